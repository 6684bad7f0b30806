//! A small, self-contained GBNF toolkit for tests: parse llama.cpp-style grammars, decide
//! membership of whole strings and of prefixes, and generate random members.
//!
//! Include it from an integration test with
//!
//! ```ignore
//! #[path = "support/gbnf.rs"]
//! mod gbnf;
//! ```
//!
//! It is meant as an independent oracle for the grammars our crate emits, so it shares no code
//! with the emitter: a bug there cannot hide itself here. It depends on nothing but `std`, and it
//! takes its randomness from the caller so tests can drive it from proptest or a seeded PRNG.
//!
//! Where llama.cpp's parser is cheap to mirror (its escapes, its repetition limits, its refusal of
//! left recursion) we mirror it. Where llama.cpp silently accepts something that is surely a
//! mistake (a rule defined twice, an empty or reversed character class) we return an error
//! instead: a test oracle should be loud. What we accept and llama.cpp refuses:
//! - a rule body continued on a new line anywhere (llama.cpp allows that only after `|` or inside
//!   parentheses; our tests asked for the leniency);
//! - a repetition whose count times the rules its item expands into exceeds 2000 (llama.cpp's
//!   "exceeds sane defaults" check, which depends on its internal rule expansion).
//!
//! Token references (`<...>`, `!<...>`) need a vocabulary and are refused.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::fmt::Display;
use std::hash::{BuildHasherDefault, Hasher};

/// llama.cpp refuses a repetition minimum above this and reads a maximum above it as "no
/// maximum" (`MAX_REPETITION_THRESHOLD` in llama-grammar.cpp); we do the same.
const MAX_REPETITION: u64 = 2000;
/// Our analyses recurse over the syntax tree; these caps turn hostile input (thousands of nested
/// parentheses or chained `?`) into an error instead of a stack overflow.
const MAX_GROUP_NESTING: usize = 64;
const MAX_CHAINED_REPETITIONS: usize = 8;

/// "Cannot be derived at all": the cost of an unproductive expression.
const INF: u64 = u64::MAX;
const MAX_CHAR: u32 = 0x10_FFFF;
/// Set ids every grammar has: a set with no members (a literal holding a code point that is not
/// a Unicode scalar value, which no Rust string can contain) and `.`.
const NEVER_SET: usize = 0;
const ANY_SET: usize = 1;

/// Characters that negated classes and `.` draw from when generating: their members are mostly
/// control, private-use or unassigned code points, which make unreadable test failures.
fn generation_pool() -> impl Iterator<Item = char> {
    (' '..='~').chain(['é', 'ß', 'Ω', '中', '😀'])
}

/// Draws from `choose` only when there is a choice to make, and never trusts it to stay in range.
fn draw(choose: &mut dyn FnMut(usize) -> usize, n: usize) -> usize {
    if n <= 1 {
        0
    } else {
        choose(n).min(n - 1)
    }
}

/// A set of characters as sorted, disjoint, non-adjacent ranges of Unicode scalar values.
/// Surrogates are cut out so that every value inside a range converts to a `char`.
#[derive(Debug, Clone)]
struct CharSet {
    ranges: Vec<(u32, u32)>,
    /// Written as `[^…]` or `.`: generation draws from [`generation_pool`].
    from_pool: bool,
}

impl CharSet {
    fn new(raw: Vec<(u32, u32)>, negated: bool) -> CharSet {
        let ranges = normalise(raw);
        let ranges = if negated { complement(&ranges) } else { ranges };
        CharSet {
            ranges,
            from_pool: negated,
        }
    }

    fn contains(&self, c: char) -> bool {
        let c = c as u32;
        let i = self.ranges.partition_point(|&(lo, _)| lo <= c);
        i > 0 && self.ranges[i - 1].1 >= c
    }

    fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    fn pick(&self, choose: &mut dyn FnMut(usize) -> usize) -> Option<char> {
        if self.from_pool {
            let members: Vec<char> = generation_pool().filter(|&c| self.contains(c)).collect();
            if !members.is_empty() {
                return Some(members[draw(choose, members.len())]);
            }
        }
        if self.ranges.is_empty() {
            return None;
        }
        let (lo, hi) = self.ranges[draw(choose, self.ranges.len())];
        let offset = draw(choose, (hi - lo) as usize + 1) as u32;
        char::from_u32(lo + offset)
    }
}

fn normalise(mut raw: Vec<(u32, u32)>) -> Vec<(u32, u32)> {
    raw.retain(|&(lo, hi)| lo <= hi && lo <= MAX_CHAR);
    raw.sort_unstable();
    let mut merged: Vec<(u32, u32)> = Vec::new();
    for (lo, hi) in raw {
        let hi = hi.min(MAX_CHAR);
        match merged.last_mut() {
            Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
            _ => merged.push((lo, hi)),
        }
    }
    let mut out = Vec::with_capacity(merged.len() + 1);
    for (lo, hi) in merged {
        if hi < 0xD800 || lo > 0xDFFF {
            out.push((lo, hi));
            continue;
        }
        if lo < 0xD800 {
            out.push((lo, 0xD7FF));
        }
        if hi > 0xDFFF {
            out.push((0xE000, hi));
        }
    }
    out
}

fn complement(ranges: &[(u32, u32)]) -> Vec<(u32, u32)> {
    let mut out = Vec::with_capacity(ranges.len() + 1);
    let mut next = 0u32;
    for &(lo, hi) in ranges {
        if lo > next {
            out.push((next, lo - 1));
        }
        next = hi + 1;
    }
    if next <= MAX_CHAR {
        out.push((next, MAX_CHAR));
    }
    // Normalising again cuts the surrogates back out of the gaps.
    normalise(out)
}

#[derive(Debug, Clone)]
enum Expr {
    Lit(Vec<char>),
    Class(usize),
    Ref(usize),
    Seq(Vec<Expr>),
    Alt(Vec<Expr>),
    Repeat {
        item: Box<Expr>,
        min: u32,
        max: Option<u32>,
    },
}

/// A parsed GBNF grammar, ready to recognise and generate strings of its `root` rule.
#[derive(Debug)]
pub struct Grammar {
    names: Vec<String>,
    bodies: Vec<Expr>,
    sets: Vec<CharSet>,
    root: usize,
    /// Per rule, the least derivation depth (counted in rule references) of any member, and the
    /// least length of any member; `INF` when the rule derives no finite string. Generation
    /// steers by depth once its budget is spent, which is what guarantees it terminates.
    min_depth: Vec<u64>,
    min_len: Vec<u64>,
    bnf: Bnf,
}

impl Grammar {
    /// Parses GBNF text. Errors name the line and column where they were found.
    pub fn parse(src: &str) -> Result<Grammar, String> {
        let mut p = Parser::new(src);
        p.grammar()?;

        // Report the earliest dangling reference, so the message is stable.
        let undefined = (0..p.names.len())
            .filter(|&id| p.bodies[id].is_none())
            .min_by_key(|&id| p.first_ref_at[id]);
        if let Some(id) = undefined {
            let msg = format!("undefined rule '{}'", p.names[id]);
            return Err(p.error(p.first_ref_at[id], msg));
        }
        let root = *p
            .ids
            .get("root")
            .ok_or_else(|| "missing 'root' rule".to_string())?;
        let def_lines: Vec<usize> = p.defined_at.iter().map(|&at| p.line_col(at).0).collect();
        let Parser {
            names,
            bodies,
            sets,
            ..
        } = p;
        // Every body is present: undefined rules were reported above.
        let bodies: Vec<Expr> = bodies.into_iter().flatten().collect();

        let nullable = nullable_rules(&bodies);
        for (id, body) in bodies.iter().enumerate() {
            if has_open_repetition_of_nullable(body, &nullable) {
                return Err(format!(
                    "line {}: rule '{}' repeats without bound (`*`, `+` or `{{m,}}`) something \
                     that can match the empty string; llama.cpp rejects that as left recursion",
                    def_lines[id], names[id]
                ));
            }
        }
        if let Some(cycle) = left_recursion(&bodies, &nullable) {
            let path: Vec<&str> = cycle.iter().map(|&id| names[id].as_str()).collect();
            return Err(format!(
                "line {}: left recursion: {}",
                def_lines[cycle[0]],
                path.join(" -> ")
            ));
        }

        let (min_depth, min_len) = min_costs(&bodies, &sets);
        let bnf = Bnf::compile(&bodies, &sets, root);
        Ok(Grammar {
            names,
            bodies,
            sets,
            root,
            min_depth,
            min_len,
            bnf,
        })
    }

    /// Whether `root` derives exactly `input`.
    pub fn accepts(&self, input: &str) -> bool {
        let input: Vec<char> = input.chars().collect();
        self.bnf.recognise(&self.sets, &input, true)
    }

    /// Whether `input` is a prefix of some string `root` derives (the empty string is a prefix of
    /// every member, so it is accepted iff the language is non-empty).
    pub fn accepts_prefix(&self, input: &str) -> bool {
        let input: Vec<char> = input.chars().collect();
        self.bnf.recognise(&self.sets, &input, false)
    }

    /// A random member of the language, or `None` when the language is empty.
    ///
    /// `choose(n)` must return a value in `0..n` (larger values are clamped); it is only called
    /// with `n >= 2`. Up to `max_depth` nested rule references choices are random; deeper, every
    /// choice takes the way out that needs the fewest further rule references, so the walk ends
    /// for any grammar, recursive or not.
    pub fn generate(
        &self,
        choose: &mut dyn FnMut(usize) -> usize,
        max_depth: usize,
    ) -> Option<String> {
        if self.min_depth[self.root] == INF {
            return None;
        }
        let mut walk = Walk {
            grammar: self,
            choose,
            max_depth,
            out: String::new(),
        };
        walk.expr(&self.bodies[self.root], 0);
        Some(walk.out)
    }

    fn cost(&self, e: &Expr) -> (u64, u64) {
        expr_cost(e, &self.min_depth, &self.min_len, &self.sets)
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-'
}

struct Parser {
    src: Vec<char>,
    pos: usize,
    names: Vec<String>,
    ids: HashMap<String, usize>,
    bodies: Vec<Option<Expr>>,
    defined_at: Vec<usize>,
    first_ref_at: Vec<usize>,
    sets: Vec<CharSet>,
    group_depth: usize,
}

impl Parser {
    fn new(src: &str) -> Parser {
        let never = CharSet::new(Vec::new(), false);
        let any = CharSet::new(Vec::new(), true);
        Parser {
            src: src.chars().collect(),
            pos: 0,
            names: Vec::new(),
            ids: HashMap::new(),
            bodies: Vec::new(),
            defined_at: Vec::new(),
            first_ref_at: Vec::new(),
            sets: vec![never, any],
            group_depth: 0,
        }
    }

    fn line_col(&self, at: usize) -> (usize, usize) {
        let before = &self.src[..at.min(self.src.len())];
        let line = before.iter().filter(|&&c| c == '\n').count() + 1;
        let col = before.iter().rev().take_while(|&&c| c != '\n').count() + 1;
        (line, col)
    }

    fn error(&self, at: usize, msg: impl Display) -> String {
        let (line, col) = self.line_col(at);
        format!("line {line}, column {col}: {msg}")
    }

    fn peek(&self) -> Option<char> {
        self.src.get(self.pos).copied()
    }

    fn skip_space(&mut self) {
        while let Some(c) = self.peek() {
            match c {
                ' ' | '\t' | '\r' | '\n' => self.pos += 1,
                '#' => {
                    while self.peek().is_some_and(|c| c != '\n' && c != '\r') {
                        self.pos += 1;
                    }
                }
                _ => break,
            }
        }
    }

    fn rule_id(&mut self, name: &str) -> usize {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len();
        self.names.push(name.to_string());
        self.ids.insert(name.to_string(), id);
        self.bodies.push(None);
        self.defined_at.push(usize::MAX);
        self.first_ref_at.push(usize::MAX);
        id
    }

    fn name_end(&self, from: usize) -> usize {
        let mut end = from;
        while self.src.get(end).copied().is_some_and(is_name_char) {
            end += 1;
        }
        end
    }

    /// If `name ::=` starts at `at`, where the name ends and where the body starts.
    fn definition_at(&self, at: usize) -> Option<(usize, usize)> {
        let name_end = self.name_end(at);
        if name_end == at {
            return None;
        }
        let mut p = name_end;
        while matches!(self.src.get(p), Some(' ' | '\t')) {
            p += 1;
        }
        (self.src.get(p..p + 3) == Some(&[':', ':', '='][..])).then_some((name_end, p + 3))
    }

    fn at_line_start(&self, at: usize) -> bool {
        self.src[..at]
            .iter()
            .rev()
            .take_while(|&&c| c != '\n')
            .all(|&c| c == ' ' || c == '\t')
    }

    fn grammar(&mut self) -> Result<(), String> {
        loop {
            self.skip_space();
            if self.pos >= self.src.len() {
                return Ok(());
            }
            self.rule()?;
        }
    }

    fn rule(&mut self) -> Result<(), String> {
        let start = self.pos;
        let Some((name_end, body_start)) = self.definition_at(start) else {
            return Err(self.error(start, "expected a rule definition `name ::= ...`"));
        };
        let name: String = self.src[start..name_end].iter().collect();
        let id = self.rule_id(&name);
        if self.bodies[id].is_some() {
            let first = self.line_col(self.defined_at[id]).0;
            let msg = format!("rule '{name}' is defined twice (first on line {first})");
            return Err(self.error(start, msg));
        }
        self.defined_at[id] = start;
        self.pos = body_start;
        let body = self.alternates()?;
        if self.peek() == Some(')') {
            return Err(self.error(self.pos, "unmatched ')'"));
        }
        self.bodies[id] = Some(body);
        Ok(())
    }

    /// Stops before `)`, at the end of input, or before the next rule definition.
    fn alternates(&mut self) -> Result<Expr, String> {
        let mut alts = vec![self.sequence()?];
        while self.peek() == Some('|') {
            self.pos += 1;
            alts.push(self.sequence()?);
        }
        Ok(if alts.len() == 1 {
            alts.swap_remove(0)
        } else {
            Expr::Alt(alts)
        })
    }

    fn sequence(&mut self) -> Result<Expr, String> {
        let mut items: Vec<Expr> = Vec::new();
        let mut chained = 0;
        loop {
            self.skip_space();
            let at = self.pos;
            let Some(c) = self.peek() else { break };
            let item = match c {
                '|' | ')' => break,
                '"' => self.literal()?,
                '[' => self.class()?,
                '.' => {
                    self.pos += 1;
                    Expr::Class(ANY_SET)
                }
                '(' => self.group()?,
                '*' | '+' | '?' | '{' => {
                    // Like llama.cpp, an operator applies to the whole preceding item, which
                    // may itself be a repetition: `"a"{2}{3}` is six `a`s.
                    let Some(prev) = items.pop() else {
                        return Err(
                            self.error(at, format!("'{c}' has nothing before it to repeat"))
                        );
                    };
                    if matches!(&prev, Expr::Lit(cs) if cs.is_empty()) {
                        return Err(self.error(at, "cannot repeat an empty literal"));
                    }
                    chained += 1;
                    if chained > MAX_CHAINED_REPETITIONS {
                        return Err(self.error(at, "too many repetition operators in a row"));
                    }
                    let (min, max) = self.repetition()?;
                    items.push(Expr::Repeat {
                        item: Box::new(prev),
                        min,
                        max,
                    });
                    continue;
                }
                c if is_name_char(c) => {
                    if self.definition_at(at).is_some() {
                        if self.at_line_start(at) {
                            break;
                        }
                        return Err(self.error(at, "a rule definition must start on a new line"));
                    }
                    let end = self.name_end(at);
                    let name: String = self.src[at..end].iter().collect();
                    self.pos = end;
                    let id = self.rule_id(&name);
                    if self.first_ref_at[id] == usize::MAX {
                        self.first_ref_at[id] = at;
                    }
                    Expr::Ref(id)
                }
                '<' | '!' => {
                    return Err(self.error(at, "token references (`<...>`) are not supported"))
                }
                _ => return Err(self.error(at, format!("unexpected character {c:?}"))),
            };
            chained = 0;
            items.push(item);
        }
        Ok(if items.len() == 1 {
            items.swap_remove(0)
        } else {
            Expr::Seq(items)
        })
    }

    fn group(&mut self) -> Result<Expr, String> {
        let open = self.pos;
        self.pos += 1;
        self.group_depth += 1;
        if self.group_depth > MAX_GROUP_NESTING {
            return Err(self.error(open, "parentheses nested too deeply"));
        }
        let inner = self.alternates()?;
        self.group_depth -= 1;
        if self.peek() != Some(')') {
            return Err(self.error(open, "unclosed '('"));
        }
        self.pos += 1;
        Ok(inner)
    }

    fn literal(&mut self) -> Result<Expr, String> {
        let open = self.pos;
        self.pos += 1;
        let mut codes = Vec::new();
        loop {
            match self.peek() {
                None => return Err(self.error(open, "unterminated string literal")),
                Some('"') => {
                    self.pos += 1;
                    break;
                }
                Some('\\') => codes.push(self.escape()?),
                Some(c) => {
                    codes.push(c as u32);
                    self.pos += 1;
                }
            }
        }
        // llama.cpp accepts any code point; one that is not a scalar value (a surrogate, or
        // above U+10FFFF) can never occur in a `str`, so such a literal matches nothing.
        let chars: Option<Vec<char>> = codes.iter().map(|&c| char::from_u32(c)).collect();
        Ok(match chars {
            Some(chars) => Expr::Lit(chars),
            None => Expr::Class(NEVER_SET),
        })
    }

    /// The escapes llama.cpp's `parse_char` knows; anything else is an error there too.
    fn escape(&mut self) -> Result<u32, String> {
        let at = self.pos;
        let Some(kind) = self.src.get(self.pos + 1).copied() else {
            return Err(self.error(at, "unterminated escape"));
        };
        self.pos += 2;
        let digits = match kind {
            'x' => 2,
            'u' => 4,
            'U' => 8,
            't' => return Ok('\t' as u32),
            'r' => return Ok('\r' as u32),
            'n' => return Ok('\n' as u32),
            '\\' | '"' | '[' | ']' | '-' => return Ok(kind as u32),
            _ => return Err(self.error(at, format!("unknown escape '\\{kind}'"))),
        };
        let mut value: u32 = 0;
        for _ in 0..digits {
            let Some(d) = self.peek().and_then(|c| c.to_digit(16)) else {
                return Err(self.error(at, format!("'\\{kind}' needs {digits} hex digits")));
            };
            // At most 8 digits, so this stays below 2^32.
            value = value * 16 + d;
            self.pos += 1;
        }
        Ok(value)
    }

    fn class(&mut self) -> Result<Expr, String> {
        let open = self.pos;
        self.pos += 1;
        let negated = self.peek() == Some('^');
        if negated {
            self.pos += 1;
        }
        let mut raw = Vec::new();
        loop {
            let range_at = self.pos;
            let lo = match self.peek() {
                None => return Err(self.error(open, "unterminated character class")),
                Some(']') => {
                    self.pos += 1;
                    break;
                }
                Some(_) => self.class_char()?,
            };
            // As in llama.cpp, `-` right before `]` is a member, not a range.
            let hi = if self.peek() == Some('-')
                && !matches!(self.src.get(self.pos + 1), Some(']') | None)
            {
                self.pos += 1;
                self.class_char()?
            } else {
                lo
            };
            if hi < lo {
                return Err(self.error(range_at, "reversed range in character class"));
            }
            raw.push((lo, hi));
        }
        if raw.is_empty() {
            return Err(self.error(open, "empty character class"));
        }
        self.sets.push(CharSet::new(raw, negated));
        Ok(Expr::Class(self.sets.len() - 1))
    }

    fn class_char(&mut self) -> Result<u32, String> {
        match self.peek() {
            Some('\\') => self.escape(),
            Some(c) => {
                self.pos += 1;
                Ok(c as u32)
            }
            None => Err(self.error(self.pos, "unterminated character class")),
        }
    }

    fn repetition(&mut self) -> Result<(u32, Option<u32>), String> {
        let at = self.pos;
        let op = self.peek();
        self.pos += 1;
        let (min, max) = match op {
            Some('*') => return Ok((0, None)),
            Some('+') => return Ok((1, None)),
            Some('?') => return Ok((0, Some(1))),
            _ => {
                self.skip_space();
                let min = self.integer()?;
                self.skip_space();
                let max = match self.peek() {
                    Some('}') => Some(min),
                    Some(',') => {
                        self.pos += 1;
                        self.skip_space();
                        if self.peek().is_some_and(|c| c.is_ascii_digit()) {
                            let max = self.integer()?;
                            self.skip_space();
                            Some(max)
                        } else {
                            None
                        }
                    }
                    _ => return Err(self.error(self.pos, "expected ',' or '}'")),
                };
                if self.peek() != Some('}') {
                    return Err(self.error(self.pos, "expected '}'"));
                }
                self.pos += 1;
                (min, max)
            }
        };
        if min > MAX_REPETITION {
            let msg =
                format!("repetition minimum {min} is above llama.cpp's limit of {MAX_REPETITION}");
            return Err(self.error(at, msg));
        }
        if let Some(max) = max {
            if max < min {
                return Err(self.error(at, format!("repetition {{{min},{max}}} has max < min")));
            }
        }
        let max = max.filter(|&max| max <= MAX_REPETITION);
        // Both are at most MAX_REPETITION now, so the casts are lossless.
        Ok((min as u32, max.map(|max| max as u32)))
    }

    fn integer(&mut self) -> Result<u64, String> {
        let at = self.pos;
        let mut value: u64 = 0;
        while let Some(d) = self.peek().and_then(|c| c.to_digit(10)) {
            value = value
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(d)))
                .ok_or_else(|| self.error(at, "number too large"))?;
            self.pos += 1;
        }
        if self.pos == at {
            return Err(self.error(at, "expected a number"));
        }
        Ok(value)
    }
}

// ---------------------------------------------------------------------------------------------
// Analyses over the syntax tree

fn expr_nullable(e: &Expr, nullable: &[bool]) -> bool {
    match e {
        Expr::Lit(cs) => cs.is_empty(),
        Expr::Class(_) => false,
        Expr::Ref(r) => nullable[*r],
        Expr::Seq(items) => items.iter().all(|it| expr_nullable(it, nullable)),
        Expr::Alt(alts) => alts.iter().any(|a| expr_nullable(a, nullable)),
        Expr::Repeat { item, min, .. } => *min == 0 || expr_nullable(item, nullable),
    }
}

fn nullable_rules(bodies: &[Expr]) -> Vec<bool> {
    let mut nullable = vec![false; bodies.len()];
    let mut changed = true;
    while changed {
        changed = false;
        for (id, body) in bodies.iter().enumerate() {
            if !nullable[id] && expr_nullable(body, &nullable) {
                nullable[id] = true;
                changed = true;
            }
        }
    }
    nullable
}

/// llama.cpp expands `S*` into `S' ::= S S' |`, which is left-recursive when `S` can be empty.
fn has_open_repetition_of_nullable(e: &Expr, nullable: &[bool]) -> bool {
    match e {
        Expr::Repeat { item, max, .. } => {
            (max.is_none() && expr_nullable(item, nullable))
                || has_open_repetition_of_nullable(item, nullable)
        }
        Expr::Seq(items) | Expr::Alt(items) => items
            .iter()
            .any(|it| has_open_repetition_of_nullable(it, nullable)),
        Expr::Lit(_) | Expr::Class(_) | Expr::Ref(_) => false,
    }
}

/// Collects the rules `e` can reference before consuming any character; returns whether `e` is
/// nullable, which is what decides whether the walk goes on to the next item of a sequence.
fn left_refs(e: &Expr, nullable: &[bool], out: &mut Vec<usize>) -> bool {
    match e {
        Expr::Lit(cs) => cs.is_empty(),
        Expr::Class(_) => false,
        Expr::Ref(r) => {
            out.push(*r);
            nullable[*r]
        }
        Expr::Seq(items) => items.iter().all(|it| left_refs(it, nullable, out)),
        Expr::Alt(alts) => {
            // No short-circuiting: every alternative's references count.
            let mut nullable_alt = false;
            for a in alts {
                nullable_alt |= left_refs(a, nullable, out);
            }
            nullable_alt
        }
        Expr::Repeat { item, min, max } => {
            if *max == Some(0) {
                return true;
            }
            left_refs(item, nullable, out) || *min == 0
        }
    }
}

/// A cycle of rules that reach each other without consuming input, first rule repeated last.
fn left_recursion(bodies: &[Expr], nullable: &[bool]) -> Option<Vec<usize>> {
    let edges: Vec<Vec<usize>> = bodies
        .iter()
        .map(|body| {
            let mut out = Vec::new();
            left_refs(body, nullable, &mut out);
            out
        })
        .collect();
    // Iterative depth-first search: grammars can have thousands of rules.
    const WHITE: u8 = 0;
    const GREY: u8 = 1;
    const BLACK: u8 = 2;
    let mut colour = vec![WHITE; bodies.len()];
    for start in 0..bodies.len() {
        if colour[start] != WHITE {
            continue;
        }
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        colour[start] = GREY;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            if let Some(&to) = edges[node].get(*next) {
                *next += 1;
                match colour[to] {
                    WHITE => {
                        colour[to] = GREY;
                        stack.push((to, 0));
                    }
                    GREY => {
                        let from = stack.iter().position(|&(n, _)| n == to).unwrap_or(0);
                        let mut cycle: Vec<usize> = stack[from..].iter().map(|&(n, _)| n).collect();
                        cycle.push(to);
                        return Some(cycle);
                    }
                    _ => {}
                }
            } else {
                colour[node] = BLACK;
                stack.pop();
            }
        }
    }
    None
}

/// (least derivation depth, least length) of `e`, given those of every rule.
fn expr_cost(e: &Expr, depth: &[u64], len: &[u64], sets: &[CharSet]) -> (u64, u64) {
    match e {
        Expr::Lit(cs) => (0, cs.len() as u64),
        Expr::Class(s) if sets[*s].is_empty() => (INF, INF),
        Expr::Class(_) => (0, 1),
        Expr::Ref(r) => (depth[*r], len[*r]),
        Expr::Seq(items) => items.iter().fold((0, 0), |(d, l), it| {
            let (id, il) = expr_cost(it, depth, len, sets);
            (d.max(id), l.saturating_add(il))
        }),
        Expr::Alt(alts) => alts.iter().fold((INF, INF), |(d, l), a| {
            let (ad, al) = expr_cost(a, depth, len, sets);
            (d.min(ad), l.min(al))
        }),
        Expr::Repeat { min: 0, .. } => (0, 0),
        Expr::Repeat { item, min, .. } => {
            let (d, l) = expr_cost(item, depth, len, sets);
            (d, l.saturating_mul(u64::from(*min)))
        }
    }
}

/// Fixpoint from "everything is underivable": costs only fall, and both settle within one pass
/// per rule because a cheapest derivation never needs the same rule twice on one branch.
fn min_costs(bodies: &[Expr], sets: &[CharSet]) -> (Vec<u64>, Vec<u64>) {
    let mut depth = vec![INF; bodies.len()];
    let mut len = vec![INF; bodies.len()];
    let mut changed = true;
    while changed {
        changed = false;
        for (id, body) in bodies.iter().enumerate() {
            let (d, l) = expr_cost(body, &depth, &len, sets);
            let d = d.saturating_add(1);
            if d < depth[id] || l < len[id] {
                depth[id] = depth[id].min(d);
                len[id] = len[id].min(l);
                changed = true;
            }
        }
    }
    (depth, len)
}

// ---------------------------------------------------------------------------------------------
// Generation

struct Walk<'g, 'c> {
    grammar: &'g Grammar,
    choose: &'c mut dyn FnMut(usize) -> usize,
    max_depth: usize,
    out: String,
}

impl Walk<'_, '_> {
    fn draw(&mut self, n: usize) -> usize {
        draw(self.choose, n)
    }

    fn expr(&mut self, e: &Expr, depth: usize) {
        let g = self.grammar;
        let frugal = depth >= self.max_depth;
        match e {
            Expr::Lit(cs) => self.out.extend(cs.iter()),
            Expr::Class(s) => {
                if let Some(c) = g.sets[*s].pick(self.choose) {
                    self.out.push(c);
                }
            }
            Expr::Ref(r) => self.expr(&g.bodies[*r], depth + 1),
            Expr::Seq(items) => {
                for it in items {
                    self.expr(it, depth);
                }
            }
            Expr::Alt(alts) => {
                let costs: Vec<(u64, u64)> = alts.iter().map(|a| g.cost(a)).collect();
                // Past the budget, take an alternative whose depth is least: each rule entered
                // then is strictly shallower than the one that entered it, so the walk ends.
                // Among those, the shortest keeps the output small.
                let floor = if frugal {
                    costs.iter().min().copied().unwrap_or((INF, INF))
                } else {
                    (INF, INF)
                };
                let candidates: Vec<usize> = (0..alts.len())
                    .filter(|&i| costs[i].0 != INF && (!frugal || costs[i] == floor))
                    .collect();
                if candidates.is_empty() {
                    return;
                }
                let pick = candidates[self.draw(candidates.len())];
                self.expr(&alts[pick], depth);
            }
            Expr::Repeat { item, min, max } => {
                let count = if frugal || g.cost(item).0 == INF {
                    *min
                } else {
                    self.repeat_count(*min, *max)
                };
                for _ in 0..count {
                    self.expr(item, depth);
                }
            }
        }
    }

    /// Small counts keep outputs readable; a bounded repetition sometimes takes its maximum so
    /// that tests exercise both ends of `{m,n}`.
    fn repeat_count(&mut self, min: u32, max: Option<u32>) -> u32 {
        match max.map(|max| max - min) {
            Some(span) if span <= 4 => min + self.draw(span as usize + 1) as u32,
            Some(span) if self.draw(5) == 0 => min + span,
            _ => min + self.draw(4) as u32,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Recognition: an Earley recogniser over a plain context-free form of the grammar.
//
// Earley keeps, for every input position, the set of all partial parses alive there, so it can
// neither miss a parse through a wrong early choice (as greedy backtracking can) nor blow up
// exponentially on ambiguity: the sets are bounded by the grammar's size times the position.
// Nullable rules use Aycock and Horspool's fix (when predicting a nullable rule, also step over
// it at once), which makes completions of empty derivations unnecessary.

#[derive(Debug, Clone, Copy)]
enum Sym {
    Char(char),
    Set(u32),
    Rule(u32),
}

#[derive(Debug, Clone, Copy)]
struct Prod {
    lhs: u32,
    start: u32,
    len: u32,
}

#[derive(Debug)]
struct Bnf {
    prods: Vec<Prod>,
    syms: Vec<Sym>,
    /// Per nonterminal, its productions whose every symbol derives some string. Predicting only
    /// these means every item in a chart can still be completed, which is what lets
    /// `accepts_prefix` answer "is the last set non-empty".
    viable: Vec<Vec<u32>>,
    nullable: Vec<bool>,
    root: u32,
}

struct Compiler {
    prods: Vec<Prod>,
    syms: Vec<Sym>,
    nonterminals: usize,
}

impl Compiler {
    fn nonterminal(&mut self) -> u32 {
        self.nonterminals += 1;
        (self.nonterminals - 1) as u32
    }

    fn production(&mut self, lhs: u32, rhs: &[Sym]) {
        self.prods.push(Prod {
            lhs,
            start: self.syms.len() as u32,
            len: rhs.len() as u32,
        });
        self.syms.extend_from_slice(rhs);
    }

    fn emit(&mut self, e: &Expr, out: &mut Vec<Sym>) {
        match e {
            Expr::Lit(cs) => out.extend(cs.iter().map(|&c| Sym::Char(c))),
            Expr::Class(s) => out.push(Sym::Set(*s as u32)),
            Expr::Ref(r) => out.push(Sym::Rule(*r as u32)),
            Expr::Seq(items) => {
                for it in items {
                    self.emit(it, out);
                }
            }
            Expr::Alt(alts) => {
                let nt = self.nonterminal();
                for a in alts {
                    let mut rhs = Vec::new();
                    self.emit(a, &mut rhs);
                    self.production(nt, &rhs);
                }
                out.push(Sym::Rule(nt));
            }
            Expr::Repeat { item, min, max } => {
                let mut body = Vec::new();
                self.emit(item, &mut body);
                let unit = if let [only] = body[..] {
                    only
                } else {
                    let nt = self.nonterminal();
                    self.production(nt, &body);
                    Sym::Rule(nt)
                };
                for _ in 0..*min {
                    out.push(unit);
                }
                match max {
                    // Left recursion (`S' ::= S' S | ε`) keeps Earley's sets constant-sized
                    // along a long repetition; right recursion would make them grow with it.
                    None => {
                        let star = self.nonterminal();
                        self.production(star, &[Sym::Rule(star), unit]);
                        self.production(star, &[]);
                        out.push(Sym::Rule(star));
                    }
                    // Nested optionals, `S'(k) ::= S S'(k-1) | ε`, as llama.cpp expands them:
                    // one live item per position, where a flat `S? S? S?` would keep k.
                    Some(max) => {
                        let mut tail: Option<Sym> = None;
                        for _ in *min..*max {
                            let nt = self.nonterminal();
                            match tail {
                                None => self.production(nt, &[unit]),
                                Some(t) => self.production(nt, &[unit, t]),
                            }
                            self.production(nt, &[]);
                            tail = Some(Sym::Rule(nt));
                        }
                        out.extend(tail);
                    }
                }
            }
        }
    }
}

impl Bnf {
    fn compile(bodies: &[Expr], sets: &[CharSet], root: usize) -> Bnf {
        let mut c = Compiler {
            prods: Vec::new(),
            syms: Vec::new(),
            nonterminals: bodies.len(),
        };
        for (id, body) in bodies.iter().enumerate() {
            let alts = match body {
                Expr::Alt(alts) => &alts[..],
                other => std::slice::from_ref(other),
            };
            for alt in alts {
                let mut rhs = Vec::new();
                c.emit(alt, &mut rhs);
                c.production(id as u32, &rhs);
            }
        }
        let n = c.nonterminals;
        let rhs = |p: &Prod| &c.syms[p.start as usize..(p.start + p.len) as usize];

        let mut nullable = vec![false; n];
        let mut productive = vec![false; n];
        let mut changed = true;
        while changed {
            changed = false;
            for p in &c.prods {
                let lhs = p.lhs as usize;
                if !nullable[lhs]
                    && rhs(p)
                        .iter()
                        .all(|s| matches!(s, Sym::Rule(r) if nullable[*r as usize]))
                {
                    nullable[lhs] = true;
                    changed = true;
                }
                if !productive[lhs] && rhs(p).iter().all(|s| sym_productive(*s, sets, &productive))
                {
                    productive[lhs] = true;
                    changed = true;
                }
            }
        }
        let mut viable = vec![Vec::new(); n];
        for (i, p) in c.prods.iter().enumerate() {
            if rhs(p).iter().all(|s| sym_productive(*s, sets, &productive)) {
                viable[p.lhs as usize].push(i as u32);
            }
        }
        Bnf {
            prods: c.prods,
            syms: c.syms,
            viable,
            nullable,
            root: root as u32,
        }
    }

    /// With `whole`, whether `root` derives `input`; without, whether `input` is a prefix of
    /// something it derives.
    fn recognise(&self, sets: &[CharSet], input: &[char], whole: bool) -> bool {
        // Per finished position: (nonterminal, item waiting for it), sorted for binary search.
        let mut waiting_at: Vec<Vec<(u32, Item)>> = Vec::with_capacity(input.len() + 1);
        let mut predicted_at = vec![usize::MAX; self.viable.len()];
        let mut current = Column::default();
        for &prod in &self.viable[self.root as usize] {
            current.add(Item {
                prod,
                dot: 0,
                origin: 0,
            });
        }
        for k in 0..=input.len() {
            if current.items.is_empty() {
                return false;
            }
            if k == input.len() && !whole {
                return true;
            }
            let next_char = input.get(k).copied();
            let mut next = Column::default();
            let mut waiting = Vec::new();
            let mut i = 0;
            while i < current.items.len() {
                let item = current.items[i];
                i += 1;
                let prod = self.prods[item.prod as usize];
                if item.dot == prod.len {
                    // An item that started here derived the empty string; stepping over
                    // nullable rules at prediction time already did its work.
                    let origin = item.origin as usize;
                    if origin == k {
                        continue;
                    }
                    let parents = &waiting_at[origin];
                    let from = parents.partition_point(|&(nt, _)| nt < prod.lhs);
                    for &(nt, parent) in &parents[from..] {
                        if nt != prod.lhs {
                            break;
                        }
                        current.add(parent.advanced());
                    }
                    continue;
                }
                match self.syms[(prod.start + item.dot) as usize] {
                    Sym::Rule(b) => {
                        waiting.push((b, item));
                        if predicted_at[b as usize] != k {
                            predicted_at[b as usize] = k;
                            for &p in &self.viable[b as usize] {
                                current.add(Item {
                                    prod: p,
                                    dot: 0,
                                    origin: k as u32,
                                });
                            }
                        }
                        if self.nullable[b as usize] {
                            current.add(item.advanced());
                        }
                    }
                    Sym::Char(c) => {
                        if next_char == Some(c) {
                            next.add(item.advanced());
                        }
                    }
                    Sym::Set(s) => {
                        if next_char.is_some_and(|c| sets[s as usize].contains(c)) {
                            next.add(item.advanced());
                        }
                    }
                }
            }
            if k == input.len() {
                return current.items.iter().any(|it| {
                    let p = self.prods[it.prod as usize];
                    it.origin == 0 && it.dot == p.len && p.lhs == self.root
                });
            }
            waiting.sort_unstable_by_key(|&(nt, _)| nt);
            waiting_at.push(waiting);
            current = next;
        }
        // The loop always returns at its last position.
        false
    }
}

fn sym_productive(s: Sym, sets: &[CharSet], productive: &[bool]) -> bool {
    match s {
        Sym::Char(_) => true,
        Sym::Set(s) => !sets[s as usize].is_empty(),
        Sym::Rule(r) => productive[r as usize],
    }
}

/// A partial parse: production `prod` matched up to `dot`, starting at input position `origin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Item {
    prod: u32,
    dot: u32,
    origin: u32,
}

impl Item {
    fn advanced(self) -> Item {
        Item {
            dot: self.dot + 1,
            ..self
        }
    }
}

#[derive(Default)]
struct Column {
    items: Vec<Item>,
    seen: HashSet<Item, BuildHasherDefault<FxHasher>>,
}

impl Column {
    fn add(&mut self, item: Item) {
        if self.seen.insert(item) {
            self.items.push(item);
        }
    }
}

/// A fast multiplicative hash (the scheme rustc uses): items are three small integers, and
/// SipHash's protection against adversarial keys buys nothing here.
#[derive(Default)]
struct FxHasher(u64);

impl FxHasher {
    fn add(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.add(u64::from(b));
        }
    }

    fn write_u32(&mut self, v: u32) {
        self.add(u64::from(v));
    }

    fn finish(&self) -> u64 {
        self.0
    }
}
