//! The scripts in `scripts/` run on macOS as well as on GNU/Linux: macOS ships
//! bash 3.2 and the BSD tools, so a bash 4 feature or a GNU-only option breaks
//! them there. These tests read every script, as bash would split it into
//! commands (so comments and the text of `echo` are never mistaken for code),
//! and name file:line for each such construct. A second test runs shellcheck
//! on them when it is installed.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Stands for an expansion (`$x`, `${x}`, `$(...)`) inside a word's text, so
/// that the characters of the expansion are not read as part of, say, a sed
/// script.
const EXPANSION: char = '\u{1}';

/// Variables that bash 3.2 does not set (bash 4 or later does).
const NEWER_VARIABLES: [&str; 5] = [
    "EPOCHREALTIME",
    "EPOCHSECONDS",
    "BASHPID",
    "SRANDOM",
    "BASH_ARGV0",
];

/// Commands that macOS does not have: GNU coreutils only.
const GNU_COMMANDS: [(&str, &str); 8] = [
    (
        "timeout",
        "use a background job and kill, or a tool's own time limit",
    ),
    ("nproc", "use getconf _NPROCESSORS_ONLN"),
    ("tac", "use tail -r or awk"),
    ("shuf", "use awk with rand()"),
    ("numfmt", "use awk"),
    ("md5sum", "macOS has md5"),
    ("sha1sum", "macOS has shasum"),
    ("sha256sum", "macOS has shasum -a 256"),
];

/// One word of a command, as bash would pass it (quotes removed, every
/// expansion replaced by [`EXPANSION`]), with the line it starts on.
#[derive(Debug, Clone)]
struct Word {
    text: String,
    line: usize,
}

/// What a script is made of, as far as these checks need it.
#[derive(Default)]
struct Scan {
    /// Simple commands: the command name (or an assignment) first.
    commands: Vec<Vec<Word>>,
    /// The text inside each `${...}`, with its line.
    expansions: Vec<(usize, String)>,
    /// Each `$NAME`, with its line.
    variables: Vec<(usize, String)>,
    /// Arrays assigned empty (`NAME=()`): expanding one as `"${NAME[@]}"`
    /// while it is empty is an error under `set -u` before bash 4.4.
    empty_arrays: BTreeSet<String>,
    /// Problems found while splitting: operators bash 3.2 lacks.
    problems: Vec<(usize, String)>,
}

/// Splits a script into commands the way bash does, closely enough for these
/// checks: quotes, escapes, comments, command substitution (nested commands
/// are commands too), `${...}`, arithmetic, array literals, redirections and
/// here-documents (whose text is skipped).
struct Lexer {
    chars: Vec<char>,
    at: usize,
    line: usize,
    heredocs: Vec<(String, bool)>,
    scan: Scan,
}

impl Lexer {
    fn new(text: &str) -> Lexer {
        Lexer {
            chars: text.chars().collect(),
            at: 0,
            line: 1,
            heredocs: Vec::new(),
            scan: Scan::default(),
        }
    }

    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.at + ahead).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek(0)?;
        self.at += 1;
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn problem(&mut self, line: usize, what: &str) {
        self.scan.problems.push((line, what.to_string()));
    }

    /// Lexes commands until the end, or until an unmatched `)` when `nested`
    /// (the end of a `$(...)`), which it consumes.
    #[allow(clippy::too_many_lines)]
    fn commands(&mut self, nested: bool) {
        let mut command: Vec<Word> = Vec::new();
        let mut word: Option<Word> = None;
        // Inside an array literal `NAME=(...)`: the index of the assignment
        // word, and how many elements it has had.
        let mut array: Option<(usize, usize)> = None;
        let mut skip_target = false;
        let mut depth = 0usize;
        while let Some(c) = self.peek(0) {
            match c {
                '#' if word.is_none() => {
                    while self.peek(0).is_some_and(|c| c != '\n') {
                        self.at += 1;
                    }
                }
                ' ' | '\t' => {
                    self.at += 1;
                    self.end_word(&mut word, &mut command, &mut array, &mut skip_target);
                }
                '\n' => {
                    self.bump();
                    self.end_word(&mut word, &mut command, &mut array, &mut skip_target);
                    if array.is_none() {
                        self.end_command(&mut command);
                    }
                    self.skip_heredocs();
                }
                '\\' => {
                    self.at += 1;
                    match self.bump() {
                        Some('\n') | None => {}
                        Some(next) => self.push(&mut word, next),
                    }
                }
                '\'' => {
                    self.start(&mut word);
                    self.at += 1;
                    while let Some(next) = self.bump() {
                        if next == '\'' {
                            break;
                        }
                        self.push(&mut word, next);
                    }
                }
                '"' => {
                    self.start(&mut word);
                    self.at += 1;
                    self.double_quoted(&mut word);
                }
                '$' => {
                    self.start(&mut word);
                    self.dollar(&mut word);
                }
                '`' => {
                    self.start(&mut word);
                    self.backquoted();
                    self.push(&mut word, EXPANSION);
                }
                '(' if array.is_none()
                    && word.as_ref().is_some_and(|word| word.text.ends_with('=')) =>
                {
                    self.at += 1;
                    self.end_word(&mut word, &mut command, &mut array, &mut skip_target);
                    array = command.len().checked_sub(1).map(|index| (index, 0));
                }
                ')' if array.is_some() => {
                    self.at += 1;
                    self.end_word(&mut word, &mut command, &mut array, &mut skip_target);
                    if let Some((index, 0)) = array {
                        let name = command[index].text.trim_end_matches(['=', '+']);
                        self.scan.empty_arrays.insert(name.to_string());
                    }
                    array = None;
                }
                '(' if word.is_none() && command.is_empty() && self.peek(1) == Some('(') => {
                    // An arithmetic command, (( ... )): nothing to check inside.
                    self.skip_parens();
                }
                ';' | '&' | '|' | '<' | '>' | '(' | ')' => {
                    let line = self.line;
                    let fd_word = word.as_ref().and_then(|word| {
                        let adjacent = self.at > 0 && !self.chars[self.at - 1].is_whitespace();
                        (adjacent && matches!(c, '<' | '>')).then(|| word.text.clone())
                    });
                    if let Some(text) = fd_word {
                        if text.chars().all(|c| c.is_ascii_digit()) {
                            word = None;
                        } else if text.starts_with('{') && text.ends_with('}') {
                            self.problem(
                                line,
                                "{NAME}> (a file descriptor in a variable) needs bash 4.1",
                            );
                            word = None;
                        }
                    }
                    self.end_word(&mut word, &mut command, &mut array, &mut skip_target);
                    let operator = self.operator();
                    match operator.as_str() {
                        "|&" => self.problem(line, "|& needs bash 4: write 2>&1 |"),
                        "&>>" => self.problem(line, "&>> needs bash 4: write >>FILE 2>&1"),
                        ";&" | ";;&" => {
                            self.problem(line, "a case fall-through (;& or ;;&) needs bash 4")
                        }
                        _ => {}
                    }
                    match operator.as_str() {
                        "<<" | "<<-" => self.heredoc_start(operator == "<<-"),
                        "<(" | ">(" => {
                            self.commands(true);
                            self.start(&mut word);
                            self.push(&mut word, EXPANSION);
                        }
                        "(" => {
                            depth += 1;
                            self.end_command(&mut command);
                        }
                        ")" => {
                            self.end_command(&mut command);
                            if depth == 0 && nested {
                                return;
                            }
                            depth = depth.saturating_sub(1);
                        }
                        "<" | ">" | ">>" | "<>" | ">&" | "<&" | "&>" | "&>>" | ">|" | "<<<" => {
                            skip_target = true;
                        }
                        _ => self.end_command(&mut command),
                    }
                }
                _ => {
                    self.at += 1;
                    self.push(&mut word, c);
                }
            }
        }
        self.end_word(&mut word, &mut command, &mut array, &mut skip_target);
        self.end_command(&mut command);
    }

    fn start(&self, word: &mut Option<Word>) {
        if word.is_none() {
            *word = Some(Word {
                text: String::new(),
                line: self.line,
            });
        }
    }

    fn push(&self, word: &mut Option<Word>, c: char) {
        self.start(word);
        if let Some(word) = word {
            word.text.push(c);
        }
    }

    fn end_word(
        &mut self,
        word: &mut Option<Word>,
        command: &mut Vec<Word>,
        array: &mut Option<(usize, usize)>,
        skip_target: &mut bool,
    ) {
        let Some(done) = word.take() else { return };
        if *skip_target {
            *skip_target = false;
        } else if let Some((index, count)) = array {
            // An element: part of the assignment, not a word of the command.
            command[*index].text.push(' ');
            command[*index].text.push_str(&done.text);
            *count += 1;
        } else {
            command.push(done);
        }
    }

    fn end_command(&mut self, command: &mut Vec<Word>) {
        if !command.is_empty() {
            self.scan.commands.push(std::mem::take(command));
        }
    }

    /// Reads the longest operator at the cursor.
    fn operator(&mut self) -> String {
        const OPERATORS: [&str; 24] = [
            ";;&", "&>>", "<<<", "<<-", ";;", ";&", "||", "|&", "&&", "&>", "<<", "<>", "<&", "<(",
            ">>", ">&", ">|", ">(", ";", "&", "|", "<", ">", "(",
        ];
        let rest: String = self.chars[self.at..].iter().take(3).collect();
        let operator = OPERATORS
            .iter()
            .find(|operator| rest.starts_with(*operator))
            .copied()
            .unwrap_or(")");
        self.at += operator.chars().count();
        operator.to_string()
    }

    fn heredoc_start(&mut self, strip_tabs: bool) {
        while matches!(self.peek(0), Some(' ' | '\t')) {
            self.at += 1;
        }
        let mut delimiter = String::new();
        while let Some(c) = self.peek(0) {
            if c.is_whitespace() || matches!(c, ';' | '|' | '&' | '<' | '>' | ')') {
                break;
            }
            self.at += 1;
            if !matches!(c, '\'' | '"' | '\\') {
                delimiter.push(c);
            }
        }
        self.heredocs.push((delimiter, strip_tabs));
    }

    /// After a newline: skips the text of the here-documents that line opened.
    fn skip_heredocs(&mut self) {
        for (delimiter, strip_tabs) in std::mem::take(&mut self.heredocs) {
            loop {
                let mut line = String::new();
                while let Some(c) = self.bump() {
                    if c == '\n' {
                        break;
                    }
                    line.push(c);
                }
                let line = if strip_tabs {
                    line.trim_start_matches('\t')
                } else {
                    &line
                };
                if line == delimiter || self.peek(0).is_none() {
                    break;
                }
            }
        }
    }

    fn double_quoted(&mut self, word: &mut Option<Word>) {
        while let Some(c) = self.peek(0) {
            match c {
                '"' => {
                    self.at += 1;
                    return;
                }
                '\\' => {
                    self.at += 1;
                    match self.bump() {
                        Some('\n') | None => {}
                        Some(next @ ('$' | '"' | '\\' | '`')) => self.push(word, next),
                        Some(next) => {
                            self.push(word, '\\');
                            self.push(word, next);
                        }
                    }
                }
                '$' => self.dollar(word),
                '`' => {
                    self.backquoted();
                    self.push(word, EXPANSION);
                }
                _ => {
                    self.bump();
                    self.push(word, c);
                }
            }
        }
    }

    /// At a `$`: an expansion of some kind, or a plain dollar sign.
    fn dollar(&mut self, word: &mut Option<Word>) {
        let line = self.line;
        match (self.peek(1), self.peek(2)) {
            (Some('('), Some('(')) => {
                self.at += 1;
                self.skip_parens();
                self.push(word, EXPANSION);
            }
            (Some('('), _) => {
                self.at += 2;
                self.commands(true);
                self.push(word, EXPANSION);
            }
            (Some('{'), _) => {
                self.at += 2;
                let mut inner = String::new();
                let mut braces = 1;
                let mut quote: Option<char> = None;
                while let Some(c) = self.bump() {
                    match (quote, c) {
                        (None, '\'' | '"') => quote = Some(c),
                        (Some(q), _) if q == c => quote = None,
                        (None, '{') => braces += 1,
                        (None, '}') => {
                            braces -= 1;
                            if braces == 0 {
                                break;
                            }
                        }
                        (_, '\\') => {
                            inner.push(c);
                            inner.extend(self.bump());
                            continue;
                        }
                        _ => {}
                    }
                    inner.push(c);
                }
                self.scan.expansions.push((line, inner));
                self.push(word, EXPANSION);
            }
            (Some('\''), _) => {
                // $'...': escapes, and \' does not end it.
                self.at += 2;
                while let Some(c) = self.bump() {
                    match c {
                        '\'' => break,
                        '\\' => {
                            self.bump();
                        }
                        _ => {}
                    }
                }
                self.push(word, EXPANSION);
            }
            (Some(c), _) if c.is_ascii_alphabetic() || c == '_' => {
                self.at += 1;
                let mut name = String::new();
                while let Some(c) = self
                    .peek(0)
                    .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                {
                    name.push(c);
                    self.at += 1;
                }
                self.scan.variables.push((line, name));
                self.push(word, EXPANSION);
            }
            (Some(c), _) if c.is_ascii_digit() || "@*#?$!-".contains(c) => {
                self.at += 2;
                self.push(word, EXPANSION);
            }
            _ => {
                self.at += 1;
                self.push(word, '$');
            }
        }
    }

    /// At `((`: skips to the matching `))`.
    fn skip_parens(&mut self) {
        let mut depth = 0usize;
        while let Some(c) = self.bump() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        return;
                    }
                }
                _ => {}
            }
        }
    }

    /// Lexes the text of a backquoted command substitution.
    /// A `` `command` `` at `self.at`: reads to the closing backquote and lexes
    /// what is inside as commands of their own.
    fn backquoted(&mut self) {
        self.at += 1;
        let mut inner = String::new();
        let line = self.line;
        while let Some(next) = self.bump() {
            match next {
                '`' => break,
                '\\' => inner.extend(self.bump()),
                _ => inner.push(next),
            }
        }
        self.sub_lex(&inner, line);
    }

    fn sub_lex(&mut self, text: &str, line: usize) {
        let mut inner = Lexer::new(text);
        inner.line = line;
        inner.commands(false);
        let scan = inner.scan;
        self.scan.commands.extend(scan.commands);
        self.scan.expansions.extend(scan.expansions);
        self.scan.variables.extend(scan.variables);
        self.scan.empty_arrays.extend(scan.empty_arrays);
        self.scan.problems.extend(scan.problems);
    }
}

fn scan(text: &str) -> Scan {
    let mut lexer = Lexer::new(text);
    lexer.commands(false);
    lexer.scan
}

/// `NAME=...` or `NAME[...]=...` or `NAME+=...`.
fn is_assignment(word: &str) -> bool {
    let Some((name, _)) = word.split_once('=') else {
        return false;
    };
    let name = name.trim_end_matches('+');
    let name = name.split_once('[').map_or(name, |(name, _)| name);
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The command's name and its arguments: assignments and keywords before the
/// name are not it.
fn name_and_args(command: &[Word]) -> Option<(&Word, &[Word])> {
    const KEYWORDS: [&str; 10] = [
        "if", "then", "else", "elif", "do", "while", "until", "!", "{", "time",
    ];
    let mut rest = command;
    loop {
        let (first, tail) = rest.split_first()?;
        let wrapper = (first.text == "command" || first.text == "builtin")
            && tail.first().is_some_and(|next| !next.text.starts_with('-'));
        if wrapper || KEYWORDS.contains(&first.text.as_str()) || is_assignment(&first.text) {
            rest = tail;
        } else {
            return Some((first, tail));
        }
    }
}

/// The option letters of the arguments (`-ni` gives n and i), with the word
/// each came from; an argument after a letter in `takes_value` is its value,
/// not an option. Long options come back whole, `--in-place`.
fn options<'a>(args: &'a [Word], takes_value: &str) -> Vec<(String, &'a Word)> {
    let mut found = Vec::new();
    let mut skip = false;
    for arg in args {
        if skip {
            skip = false;
            continue;
        }
        if arg.text == "--" {
            break;
        }
        if arg.text.starts_with("--") {
            found.push((arg.text.clone(), arg));
        } else if let Some(letters) = arg.text.strip_prefix('-') {
            for (at, letter) in letters.char_indices() {
                if !letter.is_ascii_alphabetic() {
                    break;
                }
                found.push((letter.to_string(), arg));
                if takes_value.contains(letter) {
                    // The value is the rest of the word, or the next word.
                    skip = at + 1 == letters.len();
                    break;
                }
            }
        }
    }
    found
}

/// Checks one sed script (an -e value, or the first operand).
fn sed_script(script: &str, extended: bool, problems: &mut Vec<String>) {
    let chars: Vec<char> = script.chars().collect();
    let mut at = 0;
    // Reads a regular expression or replacement up to the delimiter and
    // notes the escapes only GNU sed knows.
    let delimited =
        |at: &mut usize, delimiter: char, replacement: bool, problems: &mut Vec<String>| {
            while *at < chars.len() && chars[*at] != delimiter {
                if chars[*at] == '\\' && *at + 1 < chars.len() {
                    let escaped = chars[*at + 1];
                    let gnu_only = if replacement {
                        "trnLUluE".contains(escaped)
                    } else {
                        "trswSWbB<>`'".contains(escaped) || (!extended && "+?|".contains(escaped))
                    };
                    if gnu_only && escaped != delimiter {
                        problems.push(format!(
                            "sed's \\{escaped} is a GNU extension (BSD sed reads it differently)"
                        ));
                    }
                    *at += 1;
                }
                *at += 1;
            }
            *at += 1;
        };
    while at < chars.len() {
        match chars[at] {
            '/' => {
                at += 1;
                delimited(&mut at, '/', false, problems);
                if at < chars.len() && "IM".contains(chars[at]) {
                    problems.push(format!(
                        "sed's /regex/{} address flag is GNU-only",
                        chars[at]
                    ));
                    at += 1;
                }
            }
            '\\' if at + 1 < chars.len() => {
                let delimiter = chars[at + 1];
                at += 2;
                delimited(&mut at, delimiter, false, problems);
            }
            's' | 'y' if at + 1 < chars.len() => {
                let substitute = chars[at] == 's';
                let delimiter = chars[at + 1];
                at += 2;
                delimited(&mut at, delimiter, false, problems);
                delimited(&mut at, delimiter, true, problems);
                while substitute && at < chars.len() && !";\n}".contains(chars[at]) {
                    let flag = chars[at];
                    if "IiMme".contains(flag) {
                        problems.push(format!(
                            "sed's s///{flag} flag is GNU-only (BSD sed: no such flag)"
                        ));
                    }
                    if flag == 'w' {
                        break;
                    }
                    at += 1;
                }
            }
            'a' | 'i' | 'c' | 'b' | 't' | ':' | 'r' | 'w' => {
                while at < chars.len() && chars[at] != '\n' {
                    at += 1;
                }
            }
            _ => at += 1,
        }
    }
}

fn has_option(found: &[(String, &Word)], option: &str) -> bool {
    found.iter().any(|(found, _)| found == option)
}

/// Everything in one command that macOS's bash 3.2 or BSD tools lack.
fn command_problems(command: &[Word]) -> Vec<(usize, String)> {
    let mut problems = Vec::new();
    let Some((name, args)) = name_and_args(command) else {
        return problems;
    };
    let line = name.line;
    let mut say = |what: String| problems.push((line, what));
    match name.text.as_str() {
        "mapfile" | "readarray" => say(format!(
            "{} needs bash 4: read lines with `while IFS= read -r line`",
            name.text
        )),
        "coproc" => say("coproc needs bash 4".to_string()),
        "declare" | "typeset" | "local" | "readonly" => {
            for (option, _) in options(args, "") {
                let why = match option.as_str() {
                    "A" => "associative arrays need bash 4",
                    "n" => "name references need bash 4.3",
                    "l" | "u" => "case-converting variables need bash 4",
                    "g" => "global declarations need bash 4.2",
                    _ => continue,
                };
                say(format!("{} -{option}: {why}", name.text));
            }
        }
        "wait" => {
            let found = options(args, "p");
            for option in ["n", "f", "p"] {
                if has_option(&found, option) {
                    say(format!("wait -{option} needs bash 4.3 or later"));
                }
            }
        }
        "read" => {
            let found = options(args, "adinNptu");
            for option in ["i", "N"] {
                if has_option(&found, option) {
                    say(format!("read -{option} needs bash 4"));
                }
            }
        }
        "shopt" => {
            for arg in args {
                if ["globstar", "lastpipe", "inherit_errexit", "autocd"]
                    .contains(&arg.text.as_str())
                {
                    say(format!("shopt {} needs bash 4", arg.text));
                }
            }
        }
        "[" | "[[" | "test" => {
            for arg in args {
                if arg.text == "-v" || arg.text == "-R" {
                    say(format!("the test {} needs bash 4.2", arg.text));
                }
            }
        }
        "printf" => {
            if args.iter().any(|arg| arg.text.contains("%(")) {
                say("printf's %(...)T needs bash 4.2".to_string());
            }
        }
        "sed" => {
            let found = options(args, "efl");
            let mut extended = false;
            for (option, word) in &found {
                match option.as_str() {
                    "r" => say("sed -r is GNU-only: write sed -E".to_string()),
                    "z" => say(format!("sed -{option} is GNU-only")),
                    "E" => extended = true,
                    "i" if word.text.ends_with('i') => say(
                        "sed -i without a suffix is GNU-only (BSD needs one): write to a new file and mv it"
                            .to_string(),
                    ),
                    long if long.starts_with("--") => {
                        say(format!("sed {long}: BSD sed has no long options"));
                    }
                    _ => {}
                }
            }
            // The scripts: each -e value, or else the first operand.
            let mut scripts = Vec::new();
            let mut operand = None;
            let mut iter = args.iter();
            while let Some(arg) = iter.next() {
                if arg.text == "-e" {
                    scripts.extend(iter.next());
                } else if let Some(value) = arg.text.strip_prefix("-e") {
                    if !value.is_empty() {
                        scripts.push(arg);
                    }
                } else if arg.text == "-f" || arg.text == "-l" {
                    iter.next();
                } else if !arg.text.starts_with('-') && operand.is_none() {
                    operand = Some(arg);
                }
            }
            if scripts.is_empty() {
                scripts.extend(operand);
            }
            let mut found = Vec::new();
            for script in scripts {
                sed_script(&script.text, extended, &mut found);
            }
            for what in found {
                say(what);
            }
        }
        "grep" | "egrep" | "fgrep" => {
            let found = options(args, "efmABCdD");
            if has_option(&found, "P") || has_option(&found, "--perl-regexp") {
                say("grep -P is GNU-only: write grep -E".to_string());
            }
        }
        "date" => {
            let found = options(args, "drfvjz");
            if has_option(&found, "d") || found.iter().any(|(o, _)| o.starts_with("--")) {
                say("date -d (and date's long options) are GNU-only".to_string());
            }
        }
        "stat" => {
            let found = options(args, "ctf");
            if has_option(&found, "c") || found.iter().any(|(o, _)| o.starts_with("--")) {
                say("stat -c is GNU-only (BSD stat has -f, with other letters): use wc -c, ls or find".to_string());
            }
        }
        "readlink" => {
            let found = options(args, "");
            if found
                .iter()
                .any(|(o, _)| ["f", "e", "m"].contains(&o.as_str()) || o.starts_with("--"))
            {
                say("readlink -f is GNU-only: use cd \"$dir\" && pwd -P".to_string());
            }
        }
        "sort" => {
            let found = options(args, "ktoST");
            if has_option(&found, "V") || has_option(&found, "--version-sort") {
                say("sort -V is GNU-only".to_string());
            }
        }
        "head" | "tail" => {
            let mut iter = args.iter();
            while let Some(arg) = iter.next() {
                if (arg.text == "-n" || arg.text == "-c")
                    && iter.next().is_some_and(|count| count.text.starts_with('-'))
                {
                    say(format!(
                        "{} {} with a negative count is GNU-only",
                        name.text, arg.text
                    ));
                }
            }
        }
        "find" => {
            for arg in args {
                if arg.text == "-printf" || arg.text == "-regextype" {
                    say(format!("find {} is GNU-only", arg.text));
                }
            }
        }
        other => {
            if let Some((_, instead)) = GNU_COMMANDS.iter().find(|(gnu, _)| *gnu == other) {
                say(format!("{other} is GNU-only, macOS has none: {instead}"));
            }
        }
    }
    problems
}

/// `${...}` forms bash 3.2 lacks; the text is what stands between the braces.
fn expansion_problem(inner: &str, empty_arrays: &BTreeSet<String>) -> Option<String> {
    let body = inner.strip_prefix(['#', '!']).unwrap_or(inner);
    let name_end = body
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(body.len());
    let name = &body[..name_end];
    let mut rest = &body[name_end..];
    if NEWER_VARIABLES.contains(&name) {
        return Some(format!("${name} needs bash 4 or later"));
    }
    if let Some(subscript) = rest.strip_prefix('[') {
        let (index, after) = subscript.split_once(']').unwrap_or((subscript, ""));
        if index.trim_start().starts_with('-') {
            return Some("a negative array index needs bash 4.3".to_string());
        }
        if (index == "@" || index == "*")
            && after.is_empty()
            && !inner.starts_with(['#', '!'])
            && empty_arrays.contains(name)
        {
            return Some(format!(
                "\"${{{name}[{index}]}}\" of an empty array is an error under set -u before bash 4.4: write ${{{name}[@]+\"${{{name}[@]}}\"}}"
            ));
        }
        rest = after;
    }
    if rest.starts_with([',', '^']) {
        return Some(format!(
            "${{{inner}}}: case conversion needs bash 4 (use tr)"
        ));
    }
    if rest.starts_with('@') && rest[1..].starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Some(format!("${{{inner}}}: the @ operators need bash 4.4"));
    }
    None
}

fn script_files() -> Vec<PathBuf> {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts");
    let mut files: Vec<PathBuf> = fs::read_dir(&folder)
        .expect("scripts/")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

/// Every problem in every script, as `scripts/NAME:LINE: what`.
fn problems_in(files: &[(String, String)]) -> Vec<String> {
    let scans: Vec<(&String, Scan)> = files
        .iter()
        .map(|(name, text)| (name, scan(text)))
        .collect();
    // An array assigned empty in lib.sh can be expanded in the scripts that source it.
    let empty_arrays: BTreeSet<String> = scans
        .iter()
        .flat_map(|(_, scan)| scan.empty_arrays.iter().cloned())
        .collect();
    let mut report = Vec::new();
    for (name, scan) in &scans {
        let mut found: Vec<(usize, String)> = scan.problems.clone();
        for command in &scan.commands {
            found.extend(command_problems(command));
        }
        for (line, inner) in &scan.expansions {
            found.extend(expansion_problem(inner, &empty_arrays).map(|what| (*line, what)));
        }
        for (line, variable) in &scan.variables {
            if NEWER_VARIABLES.contains(&variable.as_str()) {
                found.push((*line, format!("${variable} needs bash 4 or later")));
            }
        }
        found.sort();
        found.dedup();
        report.extend(
            found
                .into_iter()
                .map(|(line, what)| format!("scripts/{name}:{line}: {what}")),
        );
    }
    report
}

fn problems_in_text(text: &str) -> Vec<String> {
    problems_in(&[("x.sh".to_string(), text.to_string())])
}

#[test]
fn the_scripts_use_nothing_that_macos_lacks() {
    let files: Vec<(String, String)> = script_files()
        .iter()
        .map(|path| {
            let name = path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            let text = fs::read_to_string(path)
                .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
            (name, text)
        })
        .collect();
    assert!(files.len() >= 9, "scripts/ has its scripts: {files:?}");
    let report = problems_in(&files);
    assert!(
        report.is_empty(),
        "the scripts must run on macOS's bash 3.2 and BSD tools as well as on GNU/Linux:\n{}",
        report.join("\n")
    );
}

/// The checker itself: it finds what it should, and leaves comments, strings
/// and here-documents alone.
#[test]
fn the_checker_finds_each_construct_and_only_in_code() {
    let flagged = [
        ("declare -A PID_OF=()", "declare -A"),
        ("local -n ref=x", "local -n"),
        ("mapfile -t lines <file", "mapfile"),
        ("x=$(readarray a)", "readarray"),
        ("echo \"${x,,}\"", "case conversion"),
        ("echo ${x^^}", "case conversion"),
        ("echo ${a[-1]}", "negative array index"),
        ("cmd |& tee log", "|&"),
        ("cmd &>>log", "&>>"),
        ("coproc cat", "coproc"),
        ("echo $EPOCHREALTIME", "EPOCHREALTIME"),
        ("wait -n", "wait -n"),
        ("v=\"$(sed -n 's/^x-cache: //Ip' f)\"", "s///I"),
        ("sed -n '/^x/Ip' f", "address flag"),
        ("sed -r 's/a+/b/' f", "sed -r"),
        ("sed -i 's/a/b/' f", "sed -i"),
        ("sed '1,/^\\r$/p' f", "\\r"),
        ("grep -oP '\\d+' f", "grep -P"),
        ("date -d yesterday", "date -d"),
        ("stat -c %s f", "stat -c"),
        ("d=\"$(readlink -f x)\"", "readlink -f"),
        ("timeout 5 cmd", "timeout"),
        ("sort -V f", "sort -V"),
        ("echo \"$(nproc) cores\"", "nproc"),
        ("a=()\nfor x in \"${a[@]}\"; do :; done", "empty array"),
        ("exec {fd}>file", "file descriptor in a variable"),
        ("[[ -v x ]]", "-v"),
    ];
    for (code, what) in flagged {
        let report = problems_in_text(code);
        assert!(
            report.iter().any(|line| line.contains(what)),
            "{code:?} is not flagged for {what:?}: {report:?}"
        );
        assert!(
            report.iter().all(|line| line.starts_with("scripts/x.sh:")),
            "{report:?}"
        );
    }
    let clean = [
        "# declare -A and mapfile and sed 's/x/I' are bash 4 or GNU",
        "echo \"declare -A needs bash 4; so does mapfile, and grep -P is GNU\"",
        "echo 'sed -i and date -d and |& too'",
        "ls | sort -n # not sort -V",
        "cat <<EOF\ndeclare -A x\nmapfile y\nEOF\necho done",
        "sed -n 's/^/    /' f; sed -i.bak 's/a/b/' f; sed -E 's/a+/b/' f",
        "sed -e \"s#127\\.0\\.0\\.1:$port;#${url#http://};#\" f",
        "grep -i -E '^(x-cache|age):' f",
        "a=(x y)\nfor v in \"${a[@]}\"; do :; done\necho \"${#a[@]} ${!a[@]}\"",
        "b=()\necho ${b[@]+\"${b[@]}\"}",
        "awk -v n=1 'BEGIN { exit !(n > 0) }'",
        "echo ${x:-1} ${x#*:} ${x%%|*} \"${y[@]:1}\" $((a - 1)) ${z: -1}",
        "read -r -p 'go on' _",
        "tail -n +3 f; head -c 10 f",
        "exec 3<>/dev/tcp/h/1; echo x 2>/dev/null >&3",
    ];
    for code in clean {
        let report = problems_in_text(code);
        assert!(report.is_empty(), "{code:?} is flagged: {report:?}");
    }
    let report = problems_in_text("echo one\n\n# two\nx=\"$(echo |\n  sed 's/a/b/I')\"\n");
    assert_eq!(report.len(), 1, "{report:?}");
    assert!(report[0].starts_with("scripts/x.sh:5: "), "{report:?}");
}

#[test]
fn shellcheck_finds_nothing_in_the_scripts() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    match Command::new("shellcheck").arg("--version").output() {
        Ok(output) if output.status.success() => {}
        _ => {
            println!("skipped: shellcheck is not installed");
            return;
        }
    }
    let scripts: Vec<PathBuf> = script_files()
        .into_iter()
        .filter(|path| path.extension().is_some_and(|extension| extension == "sh"))
        .map(|path| {
            path.strip_prefix(root)
                .expect("under the root")
                .to_path_buf()
        })
        .collect();
    let output = Command::new("shellcheck")
        .current_dir(root)
        .args(&scripts)
        .output()
        .expect("run shellcheck");
    assert!(
        output.status.success(),
        "shellcheck {} found:\n{}{}",
        scripts
            .iter()
            .map(|path| path.display().to_string())
            .collect::<Vec<_>>()
            .join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
