//! The bookkeeping every extraction shares, whatever it streams: the conversation so far, the
//! request each attempt sends, the attempts left, what they cost, and the errors and report
//! that come out. [`PartialStream`](crate::PartialStream) and [`ItemStream`](crate::ItemStream)
//! own one each and only decide what to do with the text; neither parses JSON here.

use std::any::Any;
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use crate::error::Error;
use crate::grounding::{Grounding, Prepared};
use crate::llm::{FinishReason, Llm, LoopCut, Message, Request, Sampling, TokenStream, Usage};
use crate::partial::Seg;
use crate::prompt::reask_message;
use crate::report::{Attempt, Extraction, Report};
use crate::validate::{validate_grounded, FieldError};
use crate::ResponseModel;

/// What an ended attempt came to (see [`Session::conclude`]).
pub(crate) enum Concluded<T> {
    /// The validated value and its report.
    Done(Box<Extraction<T>>),
    /// The attempt failed its checks; the re-ask is queued in the conversation.
    Retry(Attempt),
}

/// One extraction's state between attempts.
pub(crate) struct Session {
    conversation: Vec<Message>,
    gbnf: Cow<'static, str>,
    schema: serde_json::Value,
    grounding: Option<Arc<Grounding>>,
    /// A choice set the type needs and was not given: the first attempt returns it.
    grounding_error: Option<Error>,
    repeats_allowed: fn(&[Seg<'_>]) -> bool,
    max_tokens: u32,
    sampling: Sampling,
    context: Option<Arc<dyn Any + Send + Sync>>,
    attempts_left: u32,
    attempts: Vec<Attempt>,
    loops_cut: Vec<LoopCut>,
    usage: Usage,
    started: Instant,
}

/// The options of an extraction a session needs (copied out of the `Extractor`).
pub(crate) struct Options {
    pub(crate) max_attempts: u32,
    pub(crate) max_tokens: u32,
    pub(crate) sampling: Sampling,
    pub(crate) context: Option<Arc<dyn Any + Send + Sync>>,
}

impl Session {
    /// A session whose answer is an `A` (`Vec<T>` for a streamed list).
    pub(crate) fn new<A: ResponseModel>(
        conversation: Vec<Message>,
        prepared: Prepared,
        options: Options,
    ) -> Self {
        Self {
            conversation,
            gbnf: prepared.gbnf,
            schema: prepared.schema,
            grounding: prepared.grounding,
            grounding_error: prepared.error,
            repeats_allowed: A::repeats_allowed,
            max_tokens: options.max_tokens,
            sampling: options.sampling,
            context: options.context,
            attempts_left: options.max_attempts.max(1),
            attempts: Vec::new(),
            loops_cut: Vec::new(),
            usage: Usage::default(),
            started: Instant::now(),
        }
    }

    /// Sends the conversation so far under the answer's grammar to `llm`: the next attempt.
    pub(crate) fn start<'l, L: Llm + ?Sized>(
        &mut self,
        llm: &'l L,
    ) -> Result<Box<dyn TokenStream + 'l>, Error> {
        let request = self.request()?;
        Ok(llm.generate(&request)?)
    }

    /// The request of the next attempt (counted as started), for a caller that sends it itself
    /// (a batch, `many.rs`, or an asynchronous backend).
    pub(crate) fn request(&mut self) -> Result<Request<'_>, Error> {
        if let Some(e) = self.grounding_error.take() {
            self.attempts_left = 0;
            return Err(e);
        }
        self.attempts_left = self.attempts_left.saturating_sub(1);
        Ok(Request::new(&self.conversation)
            .grammar(&self.gbnf)
            .json_schema(&self.schema)
            .max_tokens(self.max_tokens)
            .sampling(self.sampling)
            .repeats_allowed(self.repeats_allowed))
    }

    /// Books an ended (or abandoned) generation's cost and cut loops; returns why it ended.
    pub(crate) fn end(&mut self, stream: &dyn TokenStream) -> FinishReason {
        let (finish, usage) = stream.finish();
        self.book(&usage, stream.loops_cut());
        finish
    }

    /// Books a generation's cost and cut loops (what [`Session::end`] reads off a stream).
    pub(crate) fn book(&mut self, usage: &Usage, loops_cut: &[LoopCut]) {
        self.usage.add(usage);
        self.loops_cut.extend_from_slice(loops_cut);
    }

    /// Judges an ended attempt's text `raw`: the validated value, or a re-ask (the attempt is
    /// returned), or the extraction's error. `stopped_early` says the caller ended the
    /// generation itself because the value was closed; `complete` whether the parser saw the
    /// value close. Every way of running an attempt (a stream, a batch) ends here, so they
    /// agree on truncation, validation and retries.
    pub(crate) fn conclude<T: ResponseModel>(
        &mut self,
        raw: String,
        finish: FinishReason,
        stopped_early: bool,
        complete: bool,
    ) -> Result<Concluded<T>, Error> {
        if finish == FinishReason::Length && !stopped_early && !complete {
            return Err(self.truncated(raw));
        }
        match self.check::<T>(&raw) {
            Ok(value) => {
                let report = self.report(raw);
                Ok(Concluded::Done(Box::new(Extraction { value, report })))
            }
            Err(errors) => self.retry(raw, errors).map(Concluded::Retry),
        }
    }

    /// Parses and validates one answer (or one list item).
    pub(crate) fn check<T: ResponseModel>(&self, raw: &str) -> Result<T, Vec<FieldError>> {
        let value = serde_json::from_str::<T>(raw).map_err(|e| {
            vec![FieldError::new(
                "",
                format!("the answer is not valid JSON for this type: {e}"),
            )]
        })?;
        validate_grounded(&value, self.context.as_deref(), self.grounding.as_deref())?;
        Ok(value)
    }

    /// The error for an answer cut at `max_tokens`, with every attempt so far.
    pub(crate) fn truncated(&mut self, partial: String) -> Error {
        Error::Truncated {
            max_tokens: self.max_tokens,
            partial,
            attempts: std::mem::take(&mut self.attempts),
            usage: Box::new(self.usage),
        }
    }

    /// Records a failed answer. With attempts left, the answer and a re-ask listing its errors
    /// join the conversation and the attempt is returned; otherwise every attempt comes back
    /// as [`Error::RetriesExhausted`].
    pub(crate) fn retry(&mut self, raw: String, errors: Vec<FieldError>) -> Result<Attempt, Error> {
        let attempt = Attempt::new(raw.clone(), errors);
        self.attempts.push(attempt.clone());
        if self.attempts_left == 0 {
            return Err(self.exhausted());
        }
        self.conversation.push(Message::assistant(raw));
        self.conversation.push(reask_message(&attempt.errors));
        Ok(attempt)
    }

    /// Every attempt so far, as the error of an extraction that ran out of them.
    pub(crate) fn exhausted(&mut self) -> Error {
        Error::RetriesExhausted {
            attempts: std::mem::take(&mut self.attempts),
            usage: self.usage,
        }
    }

    /// The report of a successful answer `raw`.
    pub(crate) fn report(&mut self, raw: String) -> Report {
        Report {
            failed_attempts: std::mem::take(&mut self.attempts),
            raw,
            usage: self.usage,
            loops_cut: std::mem::take(&mut self.loops_cut),
            elapsed: self.started.elapsed(),
        }
    }

    /// What the attempts ended so far cost.
    pub(crate) fn usage(&self) -> Usage {
        self.usage
    }

    /// The loops cut out of the attempts ended so far.
    pub(crate) fn loops_cut(&self) -> &[LoopCut] {
        &self.loops_cut
    }
}
