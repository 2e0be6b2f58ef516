//! docs/http.md documents every URL the app serves: its table of URLs and the URL table
//! in src/routes/mod.rs must list the same (method, path) pairs.

use std::collections::BTreeSet;

type Routes = BTreeSet<(String, String)>;

fn read(path: &str) -> String {
    let full = format!("{}/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("reading {full}: {e}"))
}

/// Every `.route("PATH", web::METHOD().to(…))` of the URL table, with the prefixes of
/// the `.service(web::scope("PREFIX")…)` it is in.
fn served(source: &str) -> Routes {
    // Routes declared any other way would escape this test: extend it before using them.
    for other in ["web::resource(", "web::route("] {
        assert!(!source.contains(other), "src/routes/mod.rs uses `{other}`: teach tests/it/http_doc.rs to read it");
    }
    for service in source.split(".service(").skip(1) {
        assert!(
            service.trim_start().starts_with("web::scope(\""),
            "a .service( that is not a web::scope(\"PREFIX\"): teach tests/it/http_doc.rs to read it"
        );
    }
    // Comments out (their parentheses would count), then one pass that keeps the depth of
    // parentheses: a scope lasts until the `.service(` holding it closes.
    let code: String = source.lines().map(|line| line.split_once("//").map_or(line, |(code, _)| code)).collect::<Vec<_>>().join("\n");
    let (mut routes, mut calls) = (Routes::new(), vec![]);
    let mut scopes: Vec<(String, usize)> = vec![];
    let mut depth = 0usize;
    let mut at = 0;
    while let Some(c) = code[at..].chars().next() {
        let rest = &code[at..];
        if let Some(scope) = rest.strip_prefix("web::scope(\"") {
            let (prefix, _) = scope.split_once('"').expect("a scope's prefix");
            scopes.push((prefix.to_string(), depth));
        } else if let Some(call) = rest.strip_prefix(".route(") {
            let call = call.trim_start();
            let path = call.strip_prefix('"').and_then(|rest| rest.split_once('"')).map(|(path, _)| path);
            let method = call.split_once("web::").and_then(|(_, rest)| rest.split_once("()")).map(|(method, _)| method);
            let (path, method) = match (path, method) {
                (Some(path), Some(method)) if method.chars().all(|c| c.is_ascii_lowercase()) => (path, method),
                _ => panic!("a .route( call that is not .route(\"PATH\", web::METHOD().to(…)): {:?}", &call[..call.len().min(80)]),
            };
            let prefix: String = scopes.iter().map(|(prefix, _)| prefix.as_str()).collect();
            routes.insert((method.to_ascii_uppercase(), format!("{prefix}{path}")));
            calls.push(call.split(".route(").next().unwrap_or(call));
        }
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                while scopes.last().is_some_and(|(_, at_depth)| depth < *at_depth) {
                    scopes.pop();
                }
            }
            _ => {}
        }
        at += c.len_utf8();
    }
    assert!(scopes.is_empty(), "a scope of src/routes/mod.rs was not closed");
    // A guarded route (`.guard(…)`, e.g. the multipart send) shares its (method, path)
    // with the unguarded one after it.
    let unguarded = calls.iter().filter(|call| !call.contains(".guard(")).count();
    assert_eq!(routes.len(), unguarded, "a (method, path) is routed twice in src/routes/mod.rs");
    routes
}

/// The rows of the one table in the document whose header starts `| method | path |`.
fn documented(doc: &str) -> Routes {
    let mut lines = doc.lines().skip_while(|line| !line.replace(' ', "").starts_with("|method|path|"));
    assert!(lines.next().is_some(), "docs/http.md has no table starting `| method | path |`");
    let mut routes = Routes::new();
    for row in lines.take_while(|line| line.trim_start().starts_with('|')) {
        let cells: Vec<&str> = row.trim().trim_matches('|').split('|').map(str::trim).collect();
        if cells.iter().all(|c| c.chars().all(|ch| matches!(ch, '-' | ':'))) {
            continue; // the separator line
        }
        let [method, path, ..] = cells[..] else { panic!("a row without method and path: {row}") };
        let path = path.trim_matches('`');
        assert!(routes.insert((method.to_string(), path.to_string())), "docs/http.md lists {method} {path} twice");
    }
    routes
}

fn list(routes: &Routes) -> String {
    routes.iter().map(|(method, path)| format!("\n  {method} {path}")).collect()
}

#[test]
fn the_http_document_lists_exactly_the_routes_the_app_serves() {
    let served = served(&read("src/routes/mod.rs"));
    let documented = documented(&read("docs/http.md"));
    assert!(served.len() > 20, "the URL table was read: {}", list(&served));
    let undocumented: Routes = served.difference(&documented).cloned().collect();
    let not_served: Routes = documented.difference(&served).cloned().collect();
    assert!(
        undocumented.is_empty() && not_served.is_empty(),
        "docs/http.md and src/routes/mod.rs disagree.\nServed but not in docs/http.md:{}\nIn docs/http.md but not served:{}",
        list(&undocumented),
        list(&not_served)
    );
}
