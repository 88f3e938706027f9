//! The README, the source and `--trace` tell the same story with the same
//! step numbers and words; these tests keep them from drifting apart.

use std::fs;
use std::path::Path;

use cacheproxy::trace::STEPS;

fn read(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// The README pseudocode's text for step `number`: every `N. text` line in
/// its first `text` block.
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
            let line = line.trim_start().trim_start_matches("if PURGE: ");
            let (number, text) = line.split_once(". ")?;
            Some((number.parse().ok()?, text.trim().to_string()))
        })
        .collect()
}

/// Every `// Step N: text.` comment in `src/`, with its file.
fn step_comments() -> Vec<(String, usize, String)> {
    let mut comments = Vec::new();
    for entry in fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("src")).expect("src") {
        let path = entry.expect("entry").path();
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
    assert_eq!(numbers, [1, 2, 3, 4, 5, 4, 5, 2, 6], "{steps:?}");
}

#[test]
fn every_step_comment_matches_the_readme_word_for_word() {
    let steps = readme_steps();
    let comments = step_comments();
    assert!(comments.len() >= 8, "too few step comments: {comments:?}");
    for (file, number, text) in comments {
        let in_readme = steps
            .iter()
            .any(|(step, readme_text)| *step == number && readme_text.starts_with(&text));
        assert!(
            in_readme,
            "{file}: `// Step {number}: {text}` is not in the README"
        );
    }
    for number in 1..=6 {
        let commented = step_comments().iter().any(|(_, step, _)| *step == number);
        assert!(commented, "no `// Step {number}:` comment in src/");
    }
}

#[test]
fn the_trace_names_each_step_as_the_readme_does() {
    for (number, text) in readme_steps() {
        let name = STEPS[number - 1];
        assert!(
            text.starts_with(name),
            "step {number}: the trace says {name:?}, the README {text:?}"
        );
    }
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

/// The flags in the README's table for `cacheproxy SUBCOMMAND`: every
/// `` `--flag `` at the start of a cell in the table after its heading line.
fn readme_flags(subcommand: &str) -> Vec<String> {
    let readme = read("README.md");
    let heading = format!("`cacheproxy {subcommand}` —");
    let section = readme
        .split(&heading)
        .nth(1)
        .unwrap_or_else(|| panic!("the README has a table for {subcommand}"));
    let table = section
        .lines()
        .skip_while(|line| !line.starts_with('|'))
        .take_while(|line| line.starts_with('|'));
    let mut flags = Vec::new();
    for row in table {
        let first_cell = row.split('|').nth(1).unwrap_or_default();
        for quoted in first_cell.split('`').skip(1).step_by(2) {
            if let Some(flag) = quoted
                .split(' ')
                .next()
                .filter(|flag| flag.starts_with("--"))
            {
                flags.push(flag.to_string());
            }
        }
    }
    flags
}

#[test]
fn the_readme_tables_list_exactly_the_flags_of_help() {
    for subcommand in ["proxy", "origin"] {
        let mut from_help = help_flags(subcommand);
        let mut from_readme = readme_flags(subcommand);
        assert!(!from_help.is_empty(), "{subcommand} --help lists no flags");
        from_help.sort();
        from_readme.sort();
        assert_eq!(from_readme, from_help, "README vs {subcommand} --help");
    }
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
