//! Reads the YAML file as a flat list of `dotted.key -> scalar` with line numbers, from the
//! parser's events. Only what a configuration needs is accepted: nested mappings of scalars.
//! Sequences, aliases and several documents are refused with the line they are on.

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

/// One `key: value` of the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RawValue {
    /// Dotted key (`index.backend`).
    pub key: String,
    /// The scalar; `None` for YAML null (`~`, `null`, or nothing after the colon).
    pub value: Option<String>,
    /// 1-based line of the key.
    pub line: usize,
}

/// A structural problem: (dotted key or "(file)", rule, line).
pub(crate) type YamlProblem = (String, String, usize);

type Ev<'a> = (Event<'a>, Span);

struct Reader<'a> {
    parser: Parser<'a, saphyr_parser::StrInput<'a>>,
    out: Vec<RawValue>,
    problems: Vec<YamlProblem>,
}

/// Flattens `text`. Structural problems are all returned; a syntax error stops the reading
/// (and is the last problem).
pub(crate) fn flatten(text: &str) -> (Vec<RawValue>, Vec<YamlProblem>) {
    let mut r = Reader {
        parser: Parser::new_from_str(text),
        out: Vec::new(),
        problems: Vec::new(),
    };
    // A syntax error is recorded as a problem by `next`, which then returns None.
    let _ = r.document();
    (r.out, r.problems)
}

impl<'a> Reader<'a> {
    fn next(&mut self) -> Option<Ev<'a>> {
        match self.parser.next_event()? {
            Ok(ev) => Some(ev),
            Err(e) => {
                self.problems.push((
                    "(file)".into(),
                    format!("is not valid YAML: {}", e.info()),
                    e.marker().line(),
                ));
                None
            }
        }
    }

    fn document(&mut self) -> Option<()> {
        let mut documents = 0;
        loop {
            let (ev, span) = self.next()?;
            match ev {
                Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
                Event::StreamEnd => return Some(()),
                Event::DocumentStart(_) => {
                    documents += 1;
                    if documents > 1 {
                        self.problems.push((
                            "(file)".into(),
                            "must hold one YAML document".into(),
                            span.start.line(),
                        ));
                        return None;
                    }
                }
                Event::MappingStart(..) => self.mapping("")?,
                Event::Scalar(ref s, style, ..) if is_null(s, style) => {}
                _ => {
                    self.problems.push((
                        "(file)".into(),
                        "must be a mapping of `key: value` lines".into(),
                        span.start.line(),
                    ));
                    return None;
                }
            }
        }
    }

    /// Reads a mapping whose start event was consumed; keys are prefixed with `prefix`.
    fn mapping(&mut self, prefix: &str) -> Option<()> {
        loop {
            let (ev, span) = self.next()?;
            let key = match ev {
                Event::MappingEnd => return Some(()),
                Event::Scalar(s, ..) => format!("{prefix}{s}"),
                _ => {
                    self.problems.push((
                        format!("{prefix}(key)"),
                        "keys must be plain words".into(),
                        span.start.line(),
                    ));
                    self.skip_node(ev)?;
                    self.skip_value()?;
                    continue;
                }
            };
            let line = span.start.line();
            let (ev, span) = self.next()?;
            match ev {
                Event::Scalar(s, style, ..) => {
                    let value = (!is_null(&s, style)).then(|| s.into_owned());
                    self.out.push(RawValue { key, value, line });
                }
                Event::MappingStart(..) => self.mapping(&format!("{key}."))?,
                Event::SequenceStart(..) => {
                    self.problems
                        .push((key, "must not be a list".into(), span.start.line()));
                    self.skip_node(ev)?;
                }
                Event::Alias(_) => self.problems.push((
                    key,
                    "must not be an alias (*name); write the value".into(),
                    span.start.line(),
                )),
                _ => {
                    self.problems
                        .push((key, "has no value".into(), span.start.line()));
                    return None;
                }
            }
        }
    }

    /// Skips the rest of a node whose first event is `first`.
    fn skip_node(&mut self, first: Event<'a>) -> Option<()> {
        let mut depth = match first {
            Event::MappingStart(..) | Event::SequenceStart(..) => 1usize,
            _ => 0,
        };
        while depth > 0 {
            match self.next()?.0 {
                Event::MappingStart(..) | Event::SequenceStart(..) => depth += 1,
                Event::MappingEnd | Event::SequenceEnd => depth -= 1,
                _ => {}
            }
        }
        Some(())
    }

    fn skip_value(&mut self) -> Option<()> {
        let (ev, _) = self.next()?;
        self.skip_node(ev)
    }
}

fn is_null(s: &str, style: ScalarStyle) -> bool {
    style == ScalarStyle::Plain && matches!(s, "" | "~" | "null" | "Null" | "NULL")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(key: &str, value: Option<&str>, line: usize) -> RawValue {
        RawValue {
            key: key.into(),
            value: value.map(Into::into),
            line,
        }
    }

    #[test]
    fn nested_mappings_flatten_to_dotted_keys_with_lines() {
        let (vals, problems) =
            flatten("# comment\nchunk_size: 1MiB\nindex:\n  backend: fjall\nmetrics_addr:\n");
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            vals,
            vec![
                raw("chunk_size", Some("1MiB"), 2),
                raw("index.backend", Some("fjall"), 4),
                raw("metrics_addr", None, 5),
            ]
        );
    }

    #[test]
    fn quoted_null_is_a_string() {
        let (vals, _) = flatten("cache_dir: 'null'\n");
        assert_eq!(vals, vec![raw("cache_dir", Some("null"), 1)]);
    }

    #[test]
    fn lists_aliases_and_syntax_errors_are_problems_with_lines() {
        let (_, problems) = flatten("a: 1\nb:\n  - 1\n  - 2\nc: 3\n");
        assert_eq!(problems, vec![("b".into(), "must not be a list".into(), 3)]);
        let (_, problems) = flatten("a: &x 1\nb: *x\n");
        assert_eq!(problems[0].0, "b");
        let (_, problems) = flatten("a: 1\n b: [\n");
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].0, "(file)");
        assert!(problems[0].1.contains("not valid YAML"));
    }

    #[test]
    fn empty_file_and_scalar_file() {
        assert_eq!(flatten(""), (vec![], vec![]));
        assert_eq!(flatten("# only comments\n"), (vec![], vec![]));
        let (_, problems) = flatten("just a string\n");
        assert_eq!(problems[0].1, "must be a mapping of `key: value` lines");
    }
}
