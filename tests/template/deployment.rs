//! What the code expects of the deployed resources: the table is exactly the layout, each
//! function's environment, build and logs, the schedule and the queues, the secrets, and
//! SES's mail events reaching the feedback function.

use super::*;

fn key_schema(schema: &Value) -> (String, String) {
    let find = |kind: &str| {
        schema
            .as_array()
            .expect("a KeySchema list")
            .iter()
            .find(|k| k["KeyType"] == kind)
            .and_then(|k| k["AttributeName"].as_str())
            .unwrap_or_else(|| panic!("no {kind} key in {schema}"))
            .to_owned()
    };
    (find("HASH"), find("RANGE"))
}

fn indexes(list: &Value) -> BTreeMap<String, (String, String, String)> {
    list.as_array()
        .map(|l| l.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|index| {
            let name = index["IndexName"].as_str().expect("IndexName").to_owned();
            let (pk, sk) = key_schema(&index["KeySchema"]);
            let projection = index["Projection"]["ProjectionType"]
                .as_str()
                .expect("ProjectionType")
                .to_owned();
            (name, (pk, sk, projection))
        })
        .collect()
}

fn layout_indexes(list: &[IndexLayout]) -> BTreeMap<String, (String, String, String)> {
    list.iter()
        .map(|i| {
            (
                i.name.to_owned(),
                (
                    i.partition_key.to_owned(),
                    i.sort_key.to_owned(),
                    i.projection.to_owned(),
                ),
            )
        })
        .collect()
}

#[test]
fn the_table_is_exactly_the_layout_create_table_makes() {
    let tables = of_type("AWS::DynamoDB::Table");
    assert_eq!(tables.len(), 1, "one table");
    let table = &tables[0].1["Properties"];

    assert_eq!(
        key_schema(&table["KeySchema"]),
        (LAYOUT.partition_key.to_owned(), LAYOUT.sort_key.to_owned()),
        "table keys"
    );
    let definitions: Vec<(String, String)> = table["AttributeDefinitions"]
        .as_array()
        .expect("AttributeDefinitions")
        .iter()
        .map(|d| {
            (
                d["AttributeName"].as_str().expect("name").to_owned(),
                d["AttributeType"].as_str().expect("type").to_owned(),
            )
        })
        .collect();
    let wanted: Vec<(String, String)> = LAYOUT
        .key_attributes()
        .into_iter()
        .map(|a| (a.to_owned(), "S".to_owned()))
        .collect();
    let as_set = |v: &[(String, String)]| v.iter().cloned().collect::<BTreeSet<_>>();
    assert_eq!(
        as_set(&definitions),
        as_set(&wanted),
        "attribute definitions"
    );
    assert_eq!(
        definitions.len(),
        wanted.len(),
        "each attribute defined once"
    );

    assert_eq!(
        indexes(&table["LocalSecondaryIndexes"]),
        layout_indexes(LAYOUT.local_indexes),
        "local secondary indexes"
    );
    assert_eq!(
        indexes(&table["GlobalSecondaryIndexes"]),
        layout_indexes(LAYOUT.global_indexes),
        "global secondary indexes"
    );
    assert_eq!(
        table["TimeToLiveSpecification"],
        json!({"AttributeName": LAYOUT.ttl_attribute, "Enabled": true}),
        "TTL"
    );
    assert_eq!(table["BillingMode"], LAYOUT.billing_mode, "billing mode");
    assert_eq!(
        table["StreamSpecification"],
        json!({"StreamViewType": LAYOUT.stream_view_type}),
        "the table's stream, as create_table makes it"
    );
    assert_eq!(
        LAYOUT.stream_view_type, "NEW_IMAGE",
        "the events publisher reads each history item from its new image"
    );
    assert_eq!(
        table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        true
    );
    assert_eq!(table["SSESpecification"]["SSEEnabled"], true);
    assert_eq!(table["SSESpecification"]["SSEType"], "KMS");
    assert_eq!(
        table["SSESpecification"]["KMSMasterKeyId"],
        reference("Key"),
        "the table is encrypted with the stack's customer-managed key"
    );
    let key = &resource("Key")["Properties"];
    assert_eq!(key["EnableKeyRotation"], true, "the key rotates");
}

/// What `functions/<binary>` reads, required and optional: the list of its configuration
/// struct (`tokenwarden::runtime::config`, held to what the struct reads by its own tests).
fn function_reads(binary: &str) -> (BTreeSet<&'static str>, BTreeSet<&'static str>) {
    let (_, variables) = config::FUNCTIONS
        .iter()
        .find(|(b, _)| *b == binary)
        .unwrap_or_else(|| panic!("{binary} has no struct in runtime::config::FUNCTIONS"));
    let names = |required: bool| {
        variables
            .iter()
            .filter(|v| v.required == required)
            .map(|v| v.name)
            .collect()
    };
    (names(true), names(false))
}

#[test]
fn each_function_reads_its_configuration_struct_once_at_cold_start() {
    for (binary, _) in config::FUNCTIONS {
        let main = read(&format!("functions/{binary}/src/main.rs"));
        assert_eq!(
            main.matches("runtime::read_config()").count(),
            1,
            "functions/{binary}/src/main.rs reads its configuration once"
        );
        assert!(
            !main.contains("std::env") && !main.contains("env::var"),
            "functions/{binary}/src/main.rs reads the environment only through its struct"
        );
    }
}

#[test]
fn each_function_gets_every_variable_it_requires_and_only_ones_it_reads() {
    let members = workspace_function_members();
    let functions = functions();
    assert_eq!(
        functions.keys().cloned().collect::<BTreeSet<_>>(),
        members,
        "one template function per functions/* workspace member"
    );
    for (binary, (name, function)) in &functions {
        let (required, optional) = function_reads(binary);
        let env = environment(function);
        let set: BTreeSet<&str> = env.keys().map(String::as_str).collect();
        let missing: Vec<_> = required.difference(&set).collect();
        assert!(
            missing.is_empty(),
            "{name}: functions/{binary}/src/main.rs requires {missing:?}, not set in the template"
        );
        let read: BTreeSet<&str> = required.union(&optional).copied().collect();
        let unread: Vec<_> = set.difference(&read).collect();
        assert!(
            unread.is_empty(),
            "{name}: the template sets {unread:?}, which {binary} never reads"
        );
    }
}

#[test]
fn no_deployed_function_has_a_local_override_or_a_bypass_switch() {
    let known: BTreeSet<&str> = config::FUNCTIONS
        .iter()
        .flat_map(|(_, variables)| variables.iter().map(|v| v.name))
        .collect();
    for (binary, (name, function)) in functions() {
        for var in environment(function).into_keys() {
            assert!(
                known.contains(var.as_str()),
                "{name} ({binary}) sets {var}, which no function reads"
            );
            // Provider calls go to the networks themselves; the fakes' base URL is for the
            // local run and the tests only.
            assert_ne!(var, config::vars::PROVIDER_BASE_URL, "{name}");
            assert!(
                !var.starts_with("AWS_ENDPOINT_URL"),
                "{name}: AWS endpoints are the real ones"
            );
            for word in [
                "BYPASS", "INSECURE", "TRUST", "LOCAL", "DEV", "SKIP", "DISABLE",
            ] {
                assert!(!var.contains(word), "{name} sets {var}");
            }
        }
        // Redirect URIs are on this stack's API: its execute-api URL, or the custom domain
        // named by the ApiPublicUrl parameter.
        if let Some(base) =
            function["Properties"]["Environment"]["Variables"].get("TOKENWARDEN_CALLBACK_BASE_URL")
        {
            assert_eq!(base["Fn::If"][0], "HasApiPublicUrl", "{name}");
            assert_eq!(base["Fn::If"][1], reference("ApiPublicUrl"), "{name}");
            let api = sub_string(&base["Fn::If"][2]).unwrap_or_default();
            assert!(api.starts_with("https://${HttpApi}."), "{name}: {api}");
        }
    }
}

fn workspace_function_members() -> BTreeSet<String> {
    #[derive(serde::Deserialize)]
    struct Manifest {
        workspace: Workspace,
    }
    #[derive(serde::Deserialize)]
    struct Workspace {
        members: Vec<String>,
    }
    let manifest: Manifest = toml::from_str(&read("Cargo.toml")).expect("Cargo.toml parses");
    manifest
        .workspace
        .members
        .into_iter()
        .filter_map(|m| m.strip_prefix("functions/").map(str::to_owned))
        .collect()
}

#[test]
fn every_function_is_an_arm64_cargo_lambda_build_of_the_workspace_with_json_logs() {
    let globals = &template()["Globals"]["Function"];
    assert_eq!(globals["Runtime"], "provided.al2023");
    assert_eq!(globals["Architectures"], json!(["arm64"]));
    assert_eq!(globals["Tracing"], "Active");
    assert_eq!(globals["Handler"], "bootstrap");
    assert_eq!(globals["LoggingConfig"]["LogFormat"], "JSON");
    // CodeUri is relative to the template: infra/.. is the workspace root.
    let code_uri = globals["CodeUri"].as_str().expect("Globals CodeUri");
    let root = repo_root().join("infra").join(code_uri);
    assert!(
        std::fs::read_to_string(root.join("Cargo.toml")).is_ok_and(|m| m.contains("[workspace]")),
        "CodeUri {code_uri} is the workspace root"
    );
    for (binary, (name, function)) in functions() {
        assert_eq!(
            function["Metadata"]["BuildMethod"], "rust-cargolambda",
            "{name}"
        );
        assert!(function["Properties"].get("CodeUri").is_none(), "{name}");
        let manifest = read(&format!("functions/{binary}/Cargo.toml"));
        assert!(
            manifest.contains(&format!("name = \"{binary}\"")),
            "{name}: Binary {binary} is the package (and binary) name"
        );
        let group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
            .as_str()
            .unwrap_or_else(|| panic!("{name} logs to a log group of the template"));
        let group = &resource(group)["Properties"];
        assert!(group["RetentionInDays"].is_object() || group["RetentionInDays"].is_number());
        assert!(
            group.get("KmsKeyId").is_some(),
            "{name}: its log group is encrypted"
        );
    }
}

#[test]
fn the_schedule_sends_an_event_the_sweep_understands_and_shards_report_partial_failures() {
    let schedules = of_type("AWS::Scheduler::Schedule");
    assert_eq!(schedules.len(), 1);
    let target = &schedules[0].1["Properties"]["Target"];
    assert_eq!(
        target["Arn"],
        json!({"Fn::GetAtt": ["ExpirySweepFunction", "Arn"]})
    );
    let input = target["Input"].as_str().expect("Input");
    assert_eq!(
        input,
        r#"{"scheduled_time":"<aws.scheduler.scheduled-time>"}"#
    );
    // What the scheduler delivers once it has put in the time.
    let delivered: Value = serde_json::from_str(
        &input.replace("<aws.scheduler.scheduled-time>", "2026-11-27T03:00:00Z"),
    )
    .expect("JSON");
    let invocation = tokenwarden::sweep::invoke::decode(&delivered).expect("the sweep reads it");
    assert_eq!(
        invocation,
        tokenwarden::sweep::invoke::Invocation::Scheduled {
            run: "sweep#2026-11-27T03:00:00Z".into()
        }
    );
    assert!(target["RetryPolicy"].is_object(), "retries");
    assert!(
        target["DeadLetterConfig"]["Arn"].is_object(),
        "a dead-letter queue"
    );

    let sweep = functions()["expiry-sweep"].1;
    let events = sweep["Properties"]["Events"]
        .as_object()
        .expect("sweep events");
    let sqs: Vec<&Value> = events.values().filter(|e| e["Type"] == "SQS").collect();
    assert_eq!(sqs.len(), 1, "one SQS event source");
    let queue = &sqs[0]["Properties"]["Queue"]["Fn::GetAtt"][0];
    assert!(sqs[0]["Properties"]["FunctionResponseTypes"]
        .as_array()
        .is_some_and(|t| t.contains(&json!("ReportBatchItemFailures"))));
    assert_eq!(
        sweep["Properties"]["Environment"]["Variables"]["TOKENWARDEN_SWEEP_QUEUE_URL"],
        json!({"Ref": queue}),
        "the sweep hands shards to the queue its event source reads"
    );
    let queue = &resource(queue.as_str().expect("queue name"))["Properties"];
    assert!(
        queue["RedrivePolicy"]["deadLetterTargetArn"].is_object(),
        "the fan-out queue has a dead-letter queue"
    );
}

#[test]
fn secrets_are_created_without_a_value() {
    let secrets = of_type("AWS::SecretsManager::Secret");
    assert_eq!(secrets.len(), 2);
    for (name, secret) in secrets {
        let p = &secret["Properties"];
        assert!(
            p.get("SecretString").is_none() && p.get("GenerateSecretString").is_none(),
            "{name} is created empty and filled by hand (infra/DEPLOY.md)"
        );
        assert_eq!(p["KmsKeyId"], reference("Key"), "{name}");
    }
}

/// SES's events about this stack's mails reach the mail-feedback function: the stack's own
/// configuration set (through which every mail goes) publishes sends, hard bounces and
/// complaints to the default bus, a rule takes exactly those of this configuration set to
/// a queue only that rule may write to, and the function reads the queue reporting partial
/// batch failures.
#[test]
fn ses_mail_events_reach_the_feedback_function_through_the_configuration_set_a_rule_and_a_queue() {
    let set = reference("MailConfigurationSet");
    for function in ["ExpirySweepFunction", "NotificationPrefsFunction"] {
        assert_eq!(
            resource(function)["Properties"]["Environment"]["Variables"]
                ["TOKENWARDEN_SES_CONFIGURATION_SET"],
            set,
            "{function} mails through the stack's configuration set"
        );
    }
    let destination = &resource("MailEventDestination")["Properties"];
    assert_eq!(destination["ConfigurationSetName"], set);
    let d = &destination["EventDestination"];
    assert_eq!(d["Enabled"], true);
    assert_eq!(
        d["MatchingEventTypes"],
        json!(["SEND", "BOUNCE", "COMPLAINT"])
    );
    assert!(sub_string(&d["EventBridgeDestination"]["EventBusArn"])
        .is_some_and(|arn| arn.ends_with(":event-bus/default")));

    let rule = &resource("MailEventsRule")["Properties"];
    assert_eq!(rule["EventBusName"], "default");
    let pattern = &rule["EventPattern"];
    assert_eq!(pattern["source"], json!(["aws.ses"]));
    assert_eq!(
        pattern["detail-type"],
        json!(["Email Sent", "Email Bounced", "Email Complaint Received"])
    );
    assert_eq!(
        pattern["detail"]["mail"]["tags"]["ses:configuration-set"],
        json!([set])
    );
    // Every sample event the function is tested with matches the rule.
    for file in ["sent", "bounce-permanent", "bounce-transient", "complaint"] {
        let sqs: Value = serde_json::from_str(&read(&format!("events/mail-feedback/{file}.json")))
            .expect("a sample SQS event");
        let body: Value = serde_json::from_str(sqs["Records"][0]["body"].as_str().expect("a body"))
            .expect("an EventBridge event");
        assert!(body["source"] == "aws.ses");
        assert!(pattern["detail-type"]
            .as_array()
            .expect("detail types")
            .contains(&body["detail-type"]));
    }
    let target = &rule["Targets"][0];
    assert_eq!(
        target["Arn"],
        json!({"Fn::GetAtt": ["MailEventsQueue", "Arn"]})
    );
    assert_eq!(
        target["DeadLetterConfig"]["Arn"],
        json!({"Fn::GetAtt": ["MailEventsDeadLetterQueue", "Arn"]})
    );
    let policy = &resource("MailEventsQueuePolicy")["Properties"]["PolicyDocument"]["Statement"][0];
    assert_eq!(policy["Principal"]["Service"], "events.amazonaws.com");
    assert_eq!(policy["Action"], "sqs:SendMessage");
    assert_eq!(
        policy["Condition"]["ArnEquals"]["aws:SourceArn"],
        json!({"Fn::GetAtt": ["MailEventsRule", "Arn"]})
    );
    let source =
        &resource("MailFeedbackFunction")["Properties"]["Events"]["MailEvents"]["Properties"];
    assert_eq!(
        source["FunctionResponseTypes"],
        json!(["ReportBatchItemFailures"])
    );
    assert_eq!(
        resource("MailEventsQueue")["Properties"]["RedrivePolicy"]["deadLetterTargetArn"],
        json!({"Fn::GetAtt": ["MailEventsDeadLetterQueue", "Arn"]})
    );
}
