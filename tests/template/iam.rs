//! IAM and checkov: who may invoke the credentials function and where its breakages go,
//! star resources only where AWS has no resource-level permission, every checkov skip
//! with a reason, and no secret for `oauth-start`.

use super::*;

#[test]
fn the_credentials_function_is_invoked_only_by_roles_holding_its_invoke_policy() {
    let all = functions();
    let (name, function) = *all
        .get("credentials")
        .expect("a function with Metadata.BuildProperties.Binary: credentials");
    let sweep = all["expiry-sweep"].0;
    assert!(
        function["Properties"].get("Events").is_none(),
        "{name}: no event source; the platform's services invoke it directly"
    );
    for (permission, p) in of_type("AWS::Lambda::Permission") {
        let target = &p["Properties"]["FunctionName"];
        assert!(
            *target != reference(name) && *target != json!({"Fn::GetAtt": [name, "Arn"]}),
            "{permission}: {name} is on no route of the HTTP API"
        );
    }

    // Who may invoke which function, from every identity policy of the template.
    let mut invokes: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (holder, statement) in policy_statements() {
        let actions = statement_actions(statement);
        if !actions
            .iter()
            .any(|a| *a == "*" || a.to_lowercase().starts_with("lambda:"))
        {
            continue;
        }
        assert_eq!(
            actions,
            ["lambda:InvokeFunction"],
            "{holder}: Lambda actions"
        );
        assert_eq!(statement["Effect"], "Allow", "{holder}");
        invokes
            .entry(holder.clone())
            .or_default()
            .extend(statement_resources(statement).iter().map(Value::to_string));
    }
    let schedules = of_type("AWS::Scheduler::Schedule");
    let scheduler_role = schedules[0].1["Properties"]["Target"]["RoleArn"]["Fn::GetAtt"][0]
        .as_str()
        .expect("the schedule's role is a role of the template")
        .to_owned();
    let policies = of_type("AWS::IAM::ManagedPolicy");
    assert_eq!(
        policies.len(),
        1,
        "one managed policy: the credentials function's invoke policy"
    );
    let (policy_name, policy) = policies[0];
    let set = |values: Vec<Value>| values.iter().map(Value::to_string).collect::<BTreeSet<_>>();
    assert_eq!(
        invokes,
        BTreeMap::from([
            (
                scheduler_role,
                set(vec![json!({"Fn::GetAtt": [sweep, "Arn"]})])
            ),
            (
                policy_name.clone(),
                set(vec![
                    json!({"Fn::GetAtt": [name, "Arn"]}),
                    json!({"Fn::Sub": format!("${{{name}.Arn}}:*")}),
                ])
            ),
        ]),
        "the scheduler invokes the sweep; holders of {policy_name} invoke {name} (and its \
         versions and aliases); nothing else grants a Lambda action"
    );
    for attachment in ["Roles", "Users", "Groups"] {
        assert!(
            policy["Properties"].get(attachment).is_none(),
            "{policy_name}: the platform attaches it to its own roles, not to this stack's"
        );
    }

    let outputs = &template()["Outputs"];
    assert_eq!(
        outputs["CredentialsFunctionArn"]["Value"],
        json!({"Fn::GetAtt": [name, "Arn"]}),
        "the output infra/DEPLOY.md names"
    );
    assert_eq!(
        outputs["CredentialsInvokePolicyArn"]["Value"],
        reference(policy_name),
        "the output infra/DEPLOY.md names"
    );
}

#[test]
fn the_credentials_function_hands_breakages_to_the_queue_the_sweep_reads() {
    let all = functions();
    let (name, credentials) = all["credentials"];
    let sweep = all["expiry-sweep"].1;
    let events = sweep["Properties"]["Events"]
        .as_object()
        .expect("sweep events");
    let queue = events
        .values()
        .find(|e| e["Type"] == "SQS")
        .expect("the sweep's SQS event source")["Properties"]["Queue"]["Fn::GetAtt"][0]
        .as_str()
        .expect("a queue of the template");
    assert_eq!(
        credentials["Properties"]["Environment"]["Variables"]["TOKENWARDEN_SWEEP_QUEUE_URL"],
        reference(queue),
        "{name}: its {{\"mail_team\":..}} tasks go to the queue the sweep's event source reads"
    );

    let role = credentials["Properties"]["Role"]["Fn::GetAtt"][0]
        .as_str()
        .unwrap_or_else(|| panic!("{name}: a role of the template"));
    let statements: Vec<&Value> = policy_statements()
        .into_iter()
        .filter(|(holder, statement)| holder.as_str() == role && statement["Effect"] == "Allow")
        .map(|(_, statement)| statement)
        .collect();
    assert!(
        statements.iter().any(|s| {
            statement_actions(s).contains(&"sqs:SendMessage")
                && statement_resources(s).contains(&json!({"Fn::GetAtt": [queue, "Arn"]}))
        }),
        "{role} may send to {queue}"
    );
    // The queue is encrypted with the stack's key: sending needs it through SQS.
    assert_eq!(
        resource(queue)["Properties"]["KmsMasterKeyId"],
        reference("Key")
    );
    assert!(
        statements.iter().any(|s| {
            let actions = statement_actions(s);
            ["kms:GenerateDataKey", "kms:Decrypt"]
                .iter()
                .all(|a| actions.contains(a))
                && statement_resources(s).contains(&json!({"Fn::GetAtt": ["Key", "Arn"]}))
                && s["Condition"]["StringEquals"]["kms:ViaService"]
                    .to_string()
                    .contains("sqs.${AWS::Region}.amazonaws.com")
        }),
        "{role} may use the key through SQS"
    );
}

/// Actions AWS offers no resource-level permission for.
const NO_RESOURCE_LEVEL: &[&str] = &[
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    // What it returns is bounded by GetSecretValue on each secret (granted per secret).
    "secretsmanager:BatchGetSecretValue",
];

#[test]
fn roles_use_star_resources_only_where_aws_has_no_resource_level_permission_and_say_why() {
    for (name, role) in of_type("AWS::IAM::Role") {
        let policies = role["Properties"]["Policies"]
            .as_array()
            .expect("inline policies");
        assert!(
            role["Properties"].get("ManagedPolicyArns").is_none(),
            "{name}: no managed policies (their resources are *)"
        );
        for policy in policies {
            for statement in policy["PolicyDocument"]["Statement"]
                .as_array()
                .expect("statements")
            {
                let star = match &statement["Resource"] {
                    Value::String(s) => s == "*",
                    Value::Array(list) => list.contains(&json!("*")),
                    _ => false,
                };
                if !star {
                    continue;
                }
                let actions: Vec<&str> = match &statement["Action"] {
                    Value::String(a) => vec![a.as_str()],
                    Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
                    other => panic!("{name}: Action {other}"),
                };
                for action in actions {
                    assert!(
                        NO_RESOURCE_LEVEL.contains(&action),
                        "{name}: {action} on * (it has resource-level permissions)"
                    );
                    let why = role["Metadata"]["WildcardResources"][action].as_str();
                    assert!(
                        why.is_some_and(|w| !w.trim().is_empty()),
                        "{name}: Metadata.WildcardResources says why {action} has resource *"
                    );
                }
            }
        }
    }
}

#[test]
fn every_checkov_skip_carries_a_reason() {
    for (name, resource) in resources() {
        let Some(skips) = resource["Metadata"]["checkov"]["skip"].as_array() else {
            continue;
        };
        for skip in skips {
            let id = skip["id"]
                .as_str()
                .unwrap_or_else(|| panic!("{name}: a skip without id"));
            let comment = skip["comment"].as_str().unwrap_or("");
            assert!(
                comment.split_whitespace().count() >= 5,
                "{name}: checkov skip {id} needs a written reason"
            );
        }
    }
}

/// `oauth-start` builds authorize URLs from the public client ids: it may read no secret
/// (neither the client credentials nor the sealing keys), and its role grants none.
#[test]
fn oauth_start_reads_no_secret() {
    let function = resource("OAuthStartFunction");
    let env = function["Properties"]["Environment"]["Variables"]
        .as_object()
        .expect("an environment");
    assert!(env.keys().all(|k| !k.ends_with("_SECRET")), "{env:?}");
    assert_eq!(env["TOKENWARDEN_CLIENT_IDS"], reference("NetworkClientIds"));
    let role = resource("OAuthStartRole");
    let text = role["Properties"]["Policies"].to_string();
    assert!(!text.contains("secretsmanager:"), "{text}");
}
