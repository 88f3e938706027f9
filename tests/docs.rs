//! The README, the source and `--trace` tell the same story with the same
//! step numbers and words; these tests keep them from drifting apart.

use std::fs;
use std::path::Path;

use cacheproxy::cache::trace::Step;

fn read(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// The README pseudocode's steps: every `N. text` in its first `text`
/// block, wherever it stands in its line (`if a write: 4, then 5. forward`).
fn readme_steps() -> Vec<(usize, String)> {
    let readme = read("README.md");
    let section = readme
        .split("## How a cache server works")
        .nth(1)
        .expect("the README has the pseudocode section");
    let block = section
        .split("```text")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the section opens with a text block");
    block
        .lines()
        .filter_map(|line| {
            let start = line.char_indices().position(|(at, digit)| {
                digit.is_ascii_digit()
                    && line[at + 1..].starts_with(". ")
                    && (at == 0 || line[..at].ends_with(' '))
            })?;
            let (number, text) = line[start..].split_once(". ")?;
            Some((number.parse().ok()?, text.trim().to_string()))
        })
        .collect()
}

/// Every `.rs` file under `src/`, in folders too.
fn sources() -> Vec<std::path::PathBuf> {
    let mut folders = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    let mut files = Vec::new();
    while let Some(folder) = folders.pop() {
        for entry in fs::read_dir(&folder).expect("src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|extension| extension == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Every `// Step N: text.` comment in `src/`, with its file.
fn step_comments() -> Vec<(String, usize, String)> {
    let mut comments = Vec::new();
    for path in sources() {
        let source = fs::read_to_string(&path).expect("read source");
        for line in source.lines() {
            let Some(rest) = line.trim_start().strip_prefix("// Step ") else {
                continue;
            };
            let Some((number, text)) = rest.split_once(": ") else {
                continue;
            };
            let file = path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            // `// Step 3, as in the proxy: ...` is prose, not a step marker.
            let Ok(number) = number.parse() else {
                continue;
            };
            comments.push((file, number, text.trim_end_matches('.').to_string()));
        }
    }
    comments
}

#[test]
fn the_readme_pseudocode_has_the_six_steps_in_order() {
    let steps = readme_steps();
    let numbers: Vec<usize> = steps.iter().map(|(number, _)| *number).collect();
    let mut distinct = numbers.clone();
    distinct.dedup();
    assert_eq!(distinct, [1, 2, 3, 4, 5, 6], "{steps:?}");
}

#[test]
fn every_step_comment_matches_the_readme_word_for_word() {
    let steps = readme_steps();
    let comments = step_comments();
    assert!(comments.len() >= 12, "too few step comments: {comments:?}");
    for (file, number, text) in comments {
        let in_readme = steps
            .iter()
            .any(|(step, readme_text)| *step == number && readme_text.starts_with(&text));
        assert!(
            in_readme,
            "{file}: `// Step {number}: {text}` is not in the README"
        );
    }
}

#[test]
fn the_trace_names_each_step_as_the_readme_does() {
    let steps = readme_steps();
    for step in Step::ALL {
        let (number, name) = (step.number(), step.name());
        let in_readme = steps
            .iter()
            .any(|(readme_number, text)| *readme_number == number && text.starts_with(name));
        assert!(in_readme, "the README has no step `{number}. {name}`");
    }
}

/// Every place in `src/` that prints a step, whatever rustfmt did to the
/// call: its file, its line (0-based) and the step it prints.
fn print_sites() -> Vec<(String, usize, Step)> {
    let mut sites = Vec::new();
    for path in sources() {
        let source = fs::read_to_string(&path).expect("read source");
        let file = path.display().to_string();
        for (at, call) in source
            .match_indices(".step(")
            .chain(source.match_indices(".done("))
        {
            let line = source[..at].lines().count().saturating_sub(1);
            let step = if call == ".done(" {
                Step::Done
            } else {
                let argument = source[at + call.len()..].trim_start();
                let variant: String = argument
                    .strip_prefix("Step::")
                    .unwrap_or_else(|| {
                        panic!("{file}:{}: prints a step that is not `Step::X`", line + 1)
                    })
                    .chars()
                    .take_while(char::is_ascii_alphanumeric)
                    .collect();
                *Step::ALL
                    .iter()
                    .find(|step| format!("{step:?}") == variant)
                    .unwrap_or_else(|| panic!("{file}:{}: unknown step {variant}", line + 1))
            };
            sites.push((file.clone(), line, step));
        }
    }
    sites
}

/// Whether `line` opens a function: `fn`, `pub fn`, `pub(crate) fn`.
fn opens_a_function(line: &str) -> bool {
    let line = line.trim_start();
    let line = line.strip_prefix("pub ").unwrap_or(line);
    let line = line.strip_prefix("pub(crate) ").unwrap_or(line);
    line.starts_with("fn ")
}

#[test]
fn every_trace_print_has_its_step_comment_where_the_step_happens() {
    // The comment marks the action, which comes before the print of what
    // it did: it must stand between the start of the function and the print.
    let sites = print_sites();
    for (file, line, step) in &sites {
        let source = fs::read_to_string(file).expect("read source");
        let lines: Vec<&str> = source.lines().collect();
        let start = lines[..*line]
            .iter()
            .rposition(|above| opens_a_function(above));
        let function = &lines[start.unwrap_or(0)..*line];
        let comment = format!("// Step {}: {}", step.number(), step.name());
        assert!(
            function
                .iter()
                .any(|above| above.trim_start().starts_with(&comment)),
            "{file}:{}: prints {step:?} with no `{comment}...` comment before it in its function",
            line + 1
        );
    }
    assert!(sites.len() >= 14, "only {} print sites found", sites.len());
}

/// The flags `cacheproxy SUBCOMMAND --help` lists, in order.
fn help_flags(subcommand: &str) -> Vec<String> {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_cacheproxy"))
        .args([subcommand, "--help"])
        .output()
        .expect("run --help");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.strip_prefix("  --"))
        .map(|rest| format!("--{}", rest.split([' ', ',']).next().unwrap_or_default()))
        .filter(|flag| flag != "--help")
        .collect()
}

/// Every `--flag` the README names, anywhere.
fn readme_flags() -> Vec<String> {
    let readme = read("README.md");
    // Inline code only: the fenced blocks hold diagrams and sample output.
    let prose: String = readme.split("```").step_by(2).collect::<Vec<_>>().join(" ");
    let mut flags: Vec<String> = prose
        .split('`')
        .skip(1)
        .step_by(2)
        .flat_map(|quoted| quoted.split(' '))
        .filter(|word| word.starts_with("--") && word.len() > 2)
        .map(|word| word.trim_end_matches([',', ')', '.']).to_string())
        .collect();
    flags.sort();
    flags.dedup();
    flags
}

#[test]
fn the_readme_names_only_real_flags_and_every_bound() {
    let mut known: Vec<String> = ["proxy", "origin", "ls", "purge", "explain"]
        .iter()
        .flat_map(|subcommand| help_flags(subcommand))
        .collect();
    known.extend([
        "--help".to_string(),
        "--version".to_string(),
        "--no-default-features".to_string(),
        "--no-pause".to_string(),
        "--open".to_string(),
    ]);
    for flag in readme_flags() {
        assert!(
            known.contains(&flag),
            "the README names {flag}, which no --help lists"
        );
    }
    // Every bound on a wait is in the README's table of bounds.
    let readme = read("README.md");
    let table = readme
        .split("## Why one thread")
        .nth(1)
        .expect("the README explains the one thread");
    for flag in help_flags("proxy") {
        let is_bound = flag.contains("timeout") || flag.contains("rate") || flag.contains("time");
        if is_bound {
            assert!(
                table.contains(&format!("`{flag}`")),
                "the bounds table lacks {flag}"
            );
        }
    }
}

#[test]
fn every_source_file_the_readme_names_exists() {
    let readme = read("README.md");
    let names = readme
        .split(['`', '(', ')', '[', ']', ' ', '\n'])
        .filter(|word| word.ends_with(".rs"));
    let files: Vec<String> = sources()
        .iter()
        .map(|path| path.to_string_lossy().into_owned())
        .collect();
    for name in names {
        let base = name.rsplit('/').next().unwrap_or(name);
        let in_src = files.iter().any(|file| file.ends_with(&format!("/{base}")));
        let in_tests = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests")
            .join(base)
            .exists();
        assert!(
            in_src || in_tests,
            "the README names {name}, which is not in src/ or tests/"
        );
    }
}

#[test]
fn the_readme_is_read_in_one_sitting_at_most_15_kb() {
    let bytes = read("README.md").len();
    assert!(
        bytes <= 15_000,
        "the README is {bytes} bytes; at most 15,000"
    );
}

#[test]
fn the_readme_lists_every_script() {
    let readme = read("README.md");
    for entry in
        fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts")).expect("scripts")
    {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        assert!(
            readme.contains(&format!("| `scripts/{name}` |")),
            "the README's script table lacks scripts/{name}"
        );
    }
}

#[test]
fn the_readme_benchmark_table_has_the_columns_bench_sh_prints() {
    let bench = read("scripts/bench.sh");
    let readme = read("README.md");
    let header = bench
        .lines()
        .find_map(|line| line.trim().strip_prefix("echo \"| file |"))
        .expect("bench.sh prints a table header")
        .trim_end_matches('"');
    assert!(
        readme.contains(&format!("| file |{header}")),
        "the README's Performance table differs from bench.sh's header: | file |{header}"
    );
}
