use super::*;
use serde_json::json;

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn resolve(name: &str, project: Option<&Project>, homes: &Homes) -> Network {
    resolve_network(name, project, homes, false).unwrap()
}

#[test]
fn a_project_file_that_does_not_parse_is_named() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("icp.yaml"), "networks: [unclosed\n");
    let error = Project::find(dir.path()).unwrap_err().to_string();
    assert!(error.contains("icp.yaml"), "{error}");
    write(&dir.path().join("sub/dfx.json"), "{ not json");
    let error = Project::find(&dir.path().join("sub"))
        .unwrap_err()
        .to_string();
    assert!(error.contains("dfx.json"), "{error}");
}

#[test]
fn mainnet_and_urls() {
    let homes = Homes::default();
    let ic = resolve("ic", None, &homes);
    assert_eq!(
        (ic.url.as_str(), ic.root_key),
        ("https://icp-api.io", RootKey::Mainnet)
    );
    // Every network but mainnet has its root key fetched: a testnet, a
    // replica in docker, a LAN address.
    for url in [
        "http://192.168.1.7:8000",
        "https://testnet.example.org/",
        "http://replica:4943",
    ] {
        assert_eq!(resolve(url, None, &homes).root_key, RootKey::Fetch, "{url}");
    }
    assert_eq!(
        resolve("https://a.icp0.io", None, &homes).root_key,
        RootKey::Mainnet
    );
    let error = resolve_network("ic", None, &homes, true)
        .unwrap_err()
        .to_string();
    assert!(error.contains("built into the agent"), "{error}");
    assert_eq!(
        resolve_network("https://testnet.example.org", None, &homes, true)
            .unwrap()
            .root_key,
        RootKey::Fetch
    );
}

#[test]
fn dfx_networks_and_canister_names() {
    let dir = tempfile::tempdir().unwrap();
    let homes = Homes {
        dfx_config: Some(dir.path().join("home/.config/dfx")),
        dfx_networks: Some(dir.path().join("home/.local/share/dfx/network")),
        icp_identity: None,
    };
    // No project: dfx's default, then its shared networks.json, then the
    // port the running replica wrote.
    assert_eq!(resolve("local", None, &homes).url, "http://127.0.0.1:4943");
    write(
        &dir.path().join("home/.config/dfx/networks.json"),
        &json!({ "local": { "bind": "127.0.0.1:8080" } }).to_string(),
    );
    assert_eq!(resolve("local", None, &homes).url, "http://127.0.0.1:8080");
    write(
        &dir.path()
            .join("home/.local/share/dfx/network/local/webserver-port"),
        "40123\n",
    );
    assert_eq!(resolve("local", None, &homes).url, "http://127.0.0.1:40123");

    let root = dir.path().join("app");
    write(
        &root.join("dfx.json"),
        &json!({ "networks": { "local": { "bind": "0.0.0.0:8000", "type": "ephemeral" }, "staging": { "providers": ["https://staging.example.org"] } } }).to_string(),
    );
    let project = Project::find(&root.join("src/deep")).unwrap().unwrap();
    assert_eq!(project.kind, Kind::Dfx);
    assert_eq!(
        resolve("local", Some(&project), &homes).url,
        "http://127.0.0.1:8000"
    );
    let staging = resolve("staging", Some(&project), &homes);
    assert_eq!(
        (staging.url.as_str(), staging.root_key),
        ("https://staging.example.org", RootKey::Fetch)
    );
    assert!(resolve_network("nowhere", Some(&project), &homes, false).is_err());

    write(
        &root.join(".dfx/local/canister_ids.json"),
        &json!({ "backend": { "local": "bkyz2-fmaaa-aaaaa-qaaaq-cai" } }).to_string(),
    );
    write(
        &root.join("canister_ids.json"),
        &json!({ "backend": { "ic": "ryjl3-tyaaa-aaaaa-aaaba-cai" } }).to_string(),
    );
    let id = |name: &str, network: &str| {
        resolve_canister(name, network, Some(&project)).map(|p| p.to_text())
    };
    assert_eq!(
        id("backend", "local").unwrap(),
        "bkyz2-fmaaa-aaaaa-qaaaq-cai"
    );
    assert_eq!(id("backend", "ic").unwrap(), "ryjl3-tyaaa-aaaaa-aaaba-cai");
    assert_eq!(id("aaaaa-aa", "local").unwrap(), "aaaaa-aa");
    let error = id("frontend", "local").unwrap_err().to_string();
    assert!(
        error.contains("no canister `frontend` on network `local`") && error.contains("dfx deploy"),
        "{error}"
    );
}

#[test]
fn icp_networks_environments_and_canister_names() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("app");
    let homes = Homes::default();
    write(&root.join("icp.yaml"), "canisters:\n  - name: backend\n");
    let project = Project::find(&root).unwrap().unwrap();
    assert_eq!(project.kind, Kind::Icp);
    // icp-cli's own default for `local`.
    assert_eq!(
        resolve("local", Some(&project), &homes).url,
        "http://127.0.0.1:8000"
    );

    write(
        &root.join("icp.yaml"),
        "networks:\n  - name: local\n    mode: managed\n    gateway:\n      port: 9999\n  - name: testnet\n    mode: connected\n    url: https://testnet.example.org\n    root-key: 3081\nenvironments:\n  - name: staging\n    network: testnet\n    canisters: [backend]\n",
    );
    let project = Project::find(&root).unwrap().unwrap();
    assert_eq!(
        resolve("local", Some(&project), &homes).url,
        "http://127.0.0.1:9999"
    );
    let staging = resolve("staging", Some(&project), &homes);
    assert_eq!(
        (staging.url.as_str(), staging.root_key),
        (
            "https://testnet.example.org",
            RootKey::Known(vec![0x30, 0x81])
        )
    );
    assert_eq!(
        resolve("ic", Some(&project), &homes).root_key,
        RootKey::Mainnet
    );

    // A running managed network: its descriptor's port and root key.
    write(
        &root.join(".icp/cache/networks/local/descriptor.json"),
        &json!({ "v": "1", "gateway": { "fixed": false, "port": 41234, "host": "localhost", "ip": "127.0.0.1" }, "root-key": "abcd" }).to_string(),
    );
    let local = resolve("local", Some(&project), &homes);
    assert_eq!(
        (local.url.as_str(), local.root_key),
        ("http://127.0.0.1:41234", RootKey::Known(vec![0xab, 0xcd]))
    );

    write(
        &root.join(".icp/cache/mappings/local.ids.json"),
        &json!({ "backend": "bkyz2-fmaaa-aaaaa-qaaaq-cai" }).to_string(),
    );
    write(
        &root.join(".icp/data/mappings/staging.ids.json"),
        &json!({ "backend": "ryjl3-tyaaa-aaaaa-aaaba-cai" }).to_string(),
    );
    assert_eq!(
        resolve_canister("backend", "local", Some(&project))
            .unwrap()
            .to_text(),
        "bkyz2-fmaaa-aaaaa-qaaaq-cai"
    );
    assert_eq!(
        resolve_canister("backend", "staging", Some(&project))
            .unwrap()
            .to_text(),
        "ryjl3-tyaaa-aaaaa-aaaba-cai"
    );
    let error = resolve_canister("backend", "ic", Some(&project))
        .unwrap_err()
        .to_string();
    assert!(error.contains("icp deploy"), "{error}");
}
