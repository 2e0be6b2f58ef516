//! `make run` installs only what running needs (issue 12): the package sets of
//! `.ci/install-deps.sh` per mode, the Makefile targets that use them, and the npm
//! packages `make run` fetches. Nothing is installed: the script only prints its sets
//! (`--print-all`, `--print`) and make only says what it would do (`make -n`).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Packages only the tests need: the browser, its driver, and a JRE for vnu.jar.
const TEST_ONLY: [&str; 3] = ["chromium", "chromium-driver", "default-jre-headless"];

fn stdout_of(cmd: &mut Command) -> String {
    let out = cmd.current_dir(ROOT).output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The packages `install-deps.sh MODE FLAG` prints, one per line.
fn packages(mode: &str, flag: &str) -> BTreeSet<String> {
    stdout_of(Command::new("bash").args([".ci/install-deps.sh", mode, flag])).lines().map(str::to_string).collect()
}

fn is_jre(package: &str) -> bool {
    package.contains("jre") || package.contains("jdk") || package.contains("java")
}

#[test]
fn running_needs_no_browser_and_no_java_and_the_tests_add_them() {
    let run = packages("run", "--print-all");
    for needed in ["postgresql", "libpq-dev", "nodejs", "npm"] {
        assert!(run.contains(needed), "run needs {needed}: {run:?}");
    }
    for absent in TEST_ONLY {
        assert!(!run.contains(absent), "run must not install {absent}: {run:?}");
    }
    assert!(!run.iter().any(|p| is_jre(p) || p.contains("chrom")), "run installs a test tool: {run:?}");

    let test = packages("test", "--print-all");
    assert!(test.is_superset(&run), "test needs everything run needs: {test:?} vs {run:?}");
    for present in TEST_ONLY {
        assert!(test.contains(present), "test needs {present}: {test:?}");
    }

    let scan = packages("security-scan", "--print-all");
    assert!(scan.is_superset(&run) && scan.contains("python3-venv") && scan.contains("curl"), "{scan:?}");
    let bench = packages("bench", "--print-all");
    assert!(bench.is_superset(&run), "{bench:?}");
    for set in [&scan, &bench] {
        assert!(!set.iter().any(|p| is_jre(p) || p.contains("chrom")), "only the tests need the browser and java: {set:?}");
    }
}

#[test]
fn print_lists_only_missing_packages_of_the_mode_and_a_wrong_mode_is_refused() {
    for mode in ["run", "test", "security-scan", "bench"] {
        let missing = packages(mode, "--print");
        let all = packages(mode, "--print-all");
        assert!(missing.is_subset(&all), "{mode}: missing {missing:?} is not within {all:?}");
    }
    for args in [&["everything", "--print-all"][..], &["--print-all"][..], &["run", "--install-everything"][..]] {
        let status = Command::new("bash").arg(".ci/install-deps.sh").args(args).current_dir(ROOT).output().unwrap().status;
        assert_eq!(status.code(), Some(2), "{args:?} must be refused");
    }
}

/// The prerequisites of a Makefile rule (`target: a b c`), as written.
fn prerequisites(makefile: &str, target: &str) -> Vec<String> {
    let head = format!("{target}:");
    let line = makefile.lines().find(|l| l.starts_with(&head)).unwrap_or_else(|| panic!("no `{target}:` rule in the Makefile"));
    line[head.len()..].split_whitespace().map(str::to_string).collect()
}

#[test]
fn make_run_build_and_demo_depend_only_on_the_run_set() {
    let makefile = std::fs::read_to_string(Path::new(ROOT).join("Makefile")).unwrap();
    for target in ["run", "build", "demo"] {
        assert_eq!(prerequisites(&makefile, target), ["deps-run", "assets-run"], "`{target}:` in the Makefile");
    }
    assert_eq!(prerequisites(&makefile, "assets-run"), ["node_modules/.stamp-run"]);
    assert_eq!(prerequisites(&makefile, "test"), ["deps-test", "assets-test"]);

    // What make would do for `run` (-n: print only; -B: as if nothing were installed yet;
    // without the MAKEFLAGS of a `make test` that may have started us).
    let dry_run = |target: &str| {
        stdout_of(
            Command::new("make")
                .args(["-n", "-B", "--no-print-directory", target])
                .env_remove("MAKEFLAGS")
                .env_remove("MFLAGS")
                .env_remove("MAKELEVEL"),
        )
    };
    let run = dry_run("run");
    assert!(run.contains("install-deps.sh run"), "{run}");
    assert!(!run.contains("install-deps.sh test"), "{run}");
    let npm: Vec<&str> = run.lines().filter(|l| l.contains("npm ci")).collect();
    assert!(!npm.is_empty() && npm.iter().all(|l| l.contains("--omit=dev")), "make run fetches only production npm packages: {run}");
    assert!(!run.contains(".ci/assets.sha256"), "make run does not check the test tools: {run}");

    let test = dry_run("test");
    assert!(test.contains("install-deps.sh test"), "{test}");
    assert!(test.lines().any(|l| l.contains("npm ci") && !l.contains("--omit=dev")), "make test fetches the dev packages: {test}");
}

#[test]
fn the_only_production_npm_package_is_htmx() {
    let package: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(Path::new(ROOT).join("package.json")).unwrap()).unwrap();
    let names = |key: &str| package[key].as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()).unwrap_or_default();
    assert_eq!(names("dependencies"), ["htmx.org"], "`npm ci --omit=dev` (make run) must fetch htmx and nothing else");
    for tool in ["axe-core", "vnu-jar"] {
        assert!(names("devDependencies").iter().any(|n| n == tool), "{tool} is a test tool: a devDependency");
    }
}
