//! etcd's authentication, asked the way Patroni asks: from a node's container,
//! through etcd's HTTP gateway, with the node's client certificate. Without a
//! token nothing is read; a wrong password is refused; Patroni's user reads its
//! cluster's keys and neither reads nor writes anything else.

use core_data_tests::TestStack;

/// Run by the node's Python (Patroni's); prints one JSON object: each request's
/// HTTP status and body. The password is read from the node's `patroni.yml`,
/// never passed in.
const PROBE: &str = r#"
import base64, json, ssl, sys, urllib.error, urllib.request
import yaml

conf = yaml.safe_load(open('/run/secrets/patroni.yml'))['etcd3']
ctx = ssl.create_default_context(cafile=conf['cacert'])
ctx.load_cert_chain(conf['cert'], conf['key'])
host = conf['hosts'][0]
own = '/core_data/' + sys.argv[1] + '/'

def b64(text):
    return base64.b64encode(text.encode()).decode()

def call(path, body, token=None):
    headers = {'Content-Type': 'application/json'}
    if token:
        headers['Authorization'] = token
    req = urllib.request.Request('https://' + host + '/v3/' + path,
                                 data=json.dumps(body).encode(), headers=headers)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            return {'status': r.status, 'body': json.load(r)}
    except urllib.error.HTTPError as e:
        raw = e.read()
        return {'status': e.code, 'body': json.loads(raw) if raw else {}}

out = {'anonymous': call('kv/range', {'key': b64(own + 'leader')})}
out['wrong_password'] = call('auth/authenticate', {'name': conf['username'], 'password': 'not-' + conf['password']})
login = call('auth/authenticate', {'name': conf['username'], 'password': conf['password']})
out['login_status'] = login['status']
token = login['body'].get('token')
out['own'] = call('kv/range', {'key': b64(own), 'range_end': b64(own[:-1] + '0')}, token)
out['own_keys'] = [base64.b64decode(kv['key']).decode() for kv in out['own']['body'].get('kvs', [])]
out['other_read'] = call('kv/range', {'key': b64('/core_data/another-cluster/leader')}, token)
out['other_write'] = call('kv/put', {'key': b64('/somewhere-else'), 'value': b64('x')}, token)
print(json.dumps(out))
"#;

fn error_of(result: &serde_json::Value) -> String {
    let body = &result["body"];
    body["error"]
        .as_str()
        .or_else(|| body["message"].as_str())
        .unwrap_or_default()
        .to_owned()
}

pub(crate) fn etcd_auth(t: &TestStack) {
    let container = t.stack.config.container_name("pg1");
    let out = t
        .stack
        .docker
        .exec_with_stdin(
            &container,
            &["python3", "-", t.stack.config.project()],
            PROBE.as_bytes(),
        )
        .unwrap();
    assert_eq!(out.exit_code, 0, "the probe failed: {}", out.stderr);
    let json: serde_json::Value = serde_json::from_str(out.stdout.trim())
        .unwrap_or_else(|e| panic!("probe output: {e}\n{}", out.stdout));

    let anonymous = &json["anonymous"];
    assert_ne!(anonymous["status"], 200, "read without a token: {json:#}");
    assert!(!error_of(anonymous).is_empty(), "{json:#}");
    let wrong = &json["wrong_password"];
    assert_ne!(wrong["status"], 200, "a wrong password logged in: {json:#}");
    assert!(
        error_of(wrong).contains("authentication failed"),
        "{json:#}"
    );
    assert_eq!(json["login_status"], 200, "{json:#}");
    let own = &json["own"];
    assert_eq!(own["status"], 200, "{json:#}");
    let keys: Vec<&str> = json["own_keys"]
        .as_array()
        .map(|keys| keys.iter().filter_map(|k| k.as_str()).collect())
        .unwrap_or_default();
    let leader_key = format!("/core_data/{}/leader", t.stack.config.project());
    assert!(keys.contains(&leader_key.as_str()), "{keys:?}");
    for name in ["other_read", "other_write"] {
        assert_ne!(json[name]["status"], 200, "{name}: {json:#}");
        assert!(
            error_of(&json[name]).contains("permission denied"),
            "{name}: {json:#}"
        );
    }
    println!(
        "ha: etcd refuses a read without a token and a wrong password; patroni reads its {} \
         keys and nothing else",
        keys.len()
    );
}
