//! The events publisher, the bus and the webhook: only inserted history items from the
//! stream, events put only on the stack's bus, EventBridge's own delivery, and the alarms.

use super::*;

/// A function's role (`Role: !GetAtt X.Arn`) and that role's Allow statements.
fn function_role(function: &'static Value) -> (&'static str, Vec<&'static Value>) {
    let role = function["Properties"]["Role"]["Fn::GetAtt"][0]
        .as_str()
        .expect("the function's role is a role of the template");
    let statements = policy_statements()
        .into_iter()
        .filter(|(holder, statement)| holder.as_str() == role && statement["Effect"] == "Allow")
        .map(|(_, statement)| statement)
        .collect();
    (role, statements)
}

/// Whether a statement grants all of `actions` on the stack's key through `service`
/// (`kms:ViaService`).
fn key_through(statements: &[&Value], service: &str, actions: &[&str]) -> bool {
    let via = format!("{service}.${{AWS::Region}}.amazonaws.com");
    statements.iter().any(|s| {
        let granted = statement_actions(s);
        actions.iter().all(|a| granted.contains(a))
            && statement_resources(s) == [json!({"Fn::GetAtt": ["Key", "Arn"]})]
            && s["Condition"]["StringEquals"]["kms:ViaService"]
                .to_string()
                .contains(&via)
    })
}

/// The alarms (name, properties) on `namespace`/`metric` with a dimension of value `on`.
fn alarms_on(namespace: &str, metric: &str, on: &Value) -> Vec<(&'static String, &'static Value)> {
    of_type("AWS::CloudWatch::Alarm")
        .into_iter()
        .map(|(name, alarm)| (name, &alarm["Properties"]))
        .filter(|(_, p)| {
            p["Namespace"] == namespace
                && p["MetricName"] == metric
                && p["Dimensions"]
                    .as_array()
                    .is_some_and(|d| d.iter().any(|dimension| dimension["Value"] == *on))
        })
        .collect()
}

/// Whether an event pattern of exact values (lists of values, nested objects: all the
/// filter uses) matches a record, as Lambda's event filtering decides.
fn pattern_matches(pattern: &Value, record: &Value) -> bool {
    match pattern {
        Value::Object(fields) => fields.iter().all(|(key, sub)| {
            record
                .get(key)
                .is_some_and(|value| pattern_matches(sub, value))
        }),
        Value::Array(allowed) => allowed.contains(record),
        other => panic!("a pattern of objects and lists of values, not {other}"),
    }
}

#[test]
fn the_events_publisher_reads_only_inserted_history_items_from_the_tables_stream() {
    let all = functions();
    let (name, publisher) = *all
        .get("events-publisher")
        .expect("a function with Metadata.BuildProperties.Binary: events-publisher");
    let table = of_type("AWS::DynamoDB::Table")[0].0;
    let stream = json!({"Fn::GetAtt": [table, "StreamArn"]});

    let events = publisher["Properties"]["Events"]
        .as_object()
        .unwrap_or_else(|| panic!("{name}: Events"));
    assert_eq!(events.len(), 1, "{name}: one event source, the stream");
    let source = events.values().next().expect("one event source");
    assert_eq!(source["Type"], "DynamoDB", "{name}");
    let p = &source["Properties"];
    assert_eq!(p["Stream"], stream, "{name} reads the table's stream");
    assert_ne!(p["Enabled"], false, "{name}: the mapping is on");
    for (setting, wanted) in [
        // Nothing written before the mapping existed is lost (the stream keeps 24 hours).
        ("StartingPosition", json!("TRIM_HORIZON")),
        ("BatchSize", json!(100)),
        ("MaximumBatchingWindowInSeconds", json!(1)),
        // One batch per shard at a time: an account's events stay in order.
        ("ParallelizationFactor", json!(1)),
        // The function reports the first record it could not publish; Lambda retries from
        // there, halving a failing batch, and gives up after 10 tries or a day.
        ("FunctionResponseTypes", json!(["ReportBatchItemFailures"])),
        ("BisectBatchOnFunctionError", json!(true)),
        ("MaximumRetryAttempts", json!(10)),
        ("MaximumRecordAgeInSeconds", json!(86400)),
    ] {
        assert_eq!(p[setting], wanted, "{name}: {setting}");
    }

    // The filter: inserted items whose `kind` is the store's history kind, nothing else.
    let filters = p["FilterCriteria"]["Filters"]
        .as_array()
        .unwrap_or_else(|| panic!("{name}: FilterCriteria.Filters"));
    assert_eq!(
        filters.len(),
        1,
        "{name}: one filter (filters are alternatives)"
    );
    let pattern: Value = serde_json::from_str(
        filters[0]["Pattern"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: the filter's Pattern is a JSON string")),
    )
    .unwrap_or_else(|e| panic!("{name}: the filter's Pattern: {e}"));
    assert_eq!(
        pattern,
        json!({"eventName": ["INSERT"], "dynamodb": {"NewImage": {"kind": {"S": ["history"]}}}}),
        "{name}: the filter"
    );
    assert_eq!(
        tokenwarden::store::dynamo::KIND_ATTRIBUTE,
        "kind",
        "the filter reads the attribute the store writes"
    );
    assert_eq!(
        tokenwarden::store::dynamo::HISTORY_KIND,
        "history",
        "the filter passes the kind the store gives history items"
    );
    let record = |event_name: &str, kind: Option<&str>| {
        let mut dynamodb = json!({
            "Keys": {"pk": {"S": "team#t1"}, "sk": {"S": "item#1"}},
            "StreamViewType": "NEW_IMAGE"
        });
        if let Some(kind) = kind {
            dynamodb["NewImage"] = json!({"pk": {"S": "team#t1"}, "kind": {"S": kind}});
        }
        json!({"eventName": event_name, "eventSource": "aws:dynamodb", "dynamodb": dynamodb})
    };
    let history = tokenwarden::store::dynamo::HISTORY_KIND;
    assert!(
        pattern_matches(&pattern, &record("INSERT", Some(history))),
        "{name}: an inserted history item reaches it"
    );
    assert!(tokenwarden::store::dynamo::ITEM_KINDS.contains(&history));
    for kind in tokenwarden::store::dynamo::ITEM_KINDS {
        if *kind != history {
            assert!(
                !pattern_matches(&pattern, &record("INSERT", Some(kind))),
                "{name}: an inserted {kind} item does not reach it"
            );
        }
    }
    assert!(
        !pattern_matches(&pattern, &record("MODIFY", Some(history))),
        "{name}: a modified item does not reach it"
    );
    assert!(
        !pattern_matches(&pattern, &record("REMOVE", None)),
        "{name}: a removed (expired) item does not reach it"
    );

    // Batches it gives up on go to an encrypted queue, kept 14 days, watched by an alarm.
    let destination = &p["DestinationConfig"]["OnFailure"]["Destination"];
    let failed = destination["Fn::GetAtt"][0]
        .as_str()
        .unwrap_or_else(|| panic!("{name}: an on-failure destination of the template"));
    assert_eq!(*destination, json!({"Fn::GetAtt": [failed, "Arn"]}));
    let queue = resource(failed);
    assert_eq!(queue["Type"], "AWS::SQS::Queue", "{failed}");
    assert_eq!(
        queue["Properties"]["KmsMasterKeyId"],
        reference("Key"),
        "{failed}"
    );
    assert_eq!(
        queue["Properties"]["MessageRetentionPeriod"], 1209600,
        "{failed}"
    );
    assert_eq!(
        alarms_on(
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            &json!({"Fn::GetAtt": [failed, "QueueName"]})
        )
        .len(),
        1,
        "an alarm on {failed}"
    );
    let iterator_age = alarms_on("AWS/Lambda", "IteratorAge", &reference(name));
    assert_eq!(iterator_age.len(), 1, "an alarm on {name}'s IteratorAge");
    let (_, age) = iterator_age[0];
    assert_eq!(age["Statistic"], "Maximum");
    assert_eq!(age["Threshold"], 300000, "five minutes behind the stream");
    assert_eq!(age["ComparisonOperator"], "GreaterThanThreshold");
    assert_eq!(
        alarms_on("AWS/Lambda", "Errors", &reference(name)).len(),
        1,
        "an alarm on {name}'s errors"
    );

    // Its environment: the bus and the frontend, nothing else.
    let bus = of_type("AWS::Events::EventBus")[0].0;
    assert_eq!(
        environment(publisher),
        BTreeMap::from([
            (config::vars::EVENT_BUS_NAME.to_owned(), reference(bus)),
            (
                config::vars::FRONTEND_URL.to_owned(),
                reference("FrontendUrl")
            ),
        ]),
        "{name}: its environment"
    );

    // Its role: the stream (not the table), the bus, the failure queue, the key through
    // DynamoDB (the stream's records) and SQS (the encrypted queue).
    let (role, statements) = function_role(publisher);
    let grants = |action: &str| -> Vec<Value> {
        statements
            .iter()
            .filter(|s| statement_actions(s).contains(&action))
            .flat_map(|s| statement_resources(s))
            .collect()
    };
    let stream_reads = [
        "dynamodb:DescribeStream",
        "dynamodb:GetRecords",
        "dynamodb:GetShardIterator",
        "dynamodb:ListStreams",
    ];
    for action in stream_reads {
        assert_eq!(
            grants(action),
            std::slice::from_ref(&stream),
            "{role}: {action} on the stream only"
        );
    }
    for statement in &statements {
        for action in statement_actions(statement) {
            assert!(
                !action.starts_with("dynamodb:") || stream_reads.contains(&action),
                "{role}: {action}; the publisher reads the stream, not the table"
            );
        }
    }
    assert_eq!(
        grants("events:PutEvents"),
        [json!({"Fn::GetAtt": [bus, "Arn"]})],
        "{role} puts events on the stack's bus only"
    );
    assert_eq!(
        grants("sqs:SendMessage"),
        [json!({"Fn::GetAtt": [failed, "Arn"]})],
        "{role}: Lambda sends failed batches with the function's role"
    );
    assert!(
        key_through(&statements, "dynamodb", &["kms:Decrypt"]),
        "{role} may decrypt the stream's records (the table's key) through DynamoDB"
    );
    assert!(
        key_through(&statements, "sqs", &["kms:GenerateDataKey", "kms:Decrypt"]),
        "{role} may use the key through SQS"
    );
}

#[test]
fn only_the_events_publisher_puts_events_and_only_on_the_stacks_bus() {
    let buses = of_type("AWS::Events::EventBus");
    assert_eq!(buses.len(), 1, "one event bus");
    let (bus, spec) = buses[0];
    assert!(spec.get("Condition").is_none(), "{bus} is always there");
    assert_eq!(
        sub_string(&spec["Properties"]["Name"]),
        Some("${AWS::StackName}"),
        "{bus} is named after the stack"
    );
    let outputs = &template()["Outputs"];
    assert_eq!(
        outputs["EventBusName"]["Value"],
        reference(bus),
        "the output infra/DEPLOY.md names"
    );
    assert_eq!(
        outputs["EventBusArn"]["Value"],
        json!({"Fn::GetAtt": [bus, "Arn"]}),
        "the output infra/DEPLOY.md names"
    );

    // Every EventBridge action any identity policy of the template grants.
    let mut grants: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for (holder, statement) in policy_statements() {
        for action in statement_actions(statement) {
            if action == "*" || action.to_lowercase().starts_with("events:") {
                assert_eq!(statement["Effect"], "Allow", "{holder}");
                grants
                    .entry((holder.clone(), action.to_owned()))
                    .or_default()
                    .extend(statement_resources(statement).iter().map(Value::to_string));
            }
        }
    }
    let (publisher, function) = functions()["events-publisher"];
    let (role, _) = function_role(function);
    let mut wanted = BTreeMap::from([(
        (role.to_owned(), "events:PutEvents".to_owned()),
        BTreeSet::from([json!({"Fn::GetAtt": [bus, "Arn"]}).to_string()]),
    )]);
    // The role EventBridge calls the webhook with: its API destination, nothing else. (The
    // mail events rule sends to its queue as EventBridge itself, under the queue's policy.)
    for (name, rule) in of_type("AWS::Events::Rule") {
        if name == "MailEventsRule" {
            continue;
        }
        for target in rule["Properties"]["Targets"].as_array().expect("Targets") {
            let caller = target["RoleArn"]["Fn::GetAtt"][0]
                .as_str()
                .unwrap_or_else(|| panic!("{name}: the target's role is a role of the template"));
            wanted.insert(
                (caller.to_owned(), "events:InvokeApiDestination".to_owned()),
                BTreeSet::from([target["Arn"].to_string()]),
            );
        }
    }
    assert_eq!(
        grants, wanted,
        "{publisher} puts events on {bus} only; the webhook's role invokes its API destination \
         only; nothing else grants an EventBridge action"
    );

    // The events are the code's: its source, every detail-type documented.
    let deploy = read("infra/DEPLOY.md");
    assert!(
        deploy.contains(&format!("`{}`", tokenwarden::events::SOURCE)),
        "infra/DEPLOY.md names the source"
    );
    for kind in tokenwarden::domain::HistoryKind::ALL {
        let detail_type = kind.detail_type();
        assert!(
            deploy.contains(&format!("`{detail_type}`")),
            "infra/DEPLOY.md lists the detail-type {detail_type}"
        );
    }
}

#[test]
fn the_webhook_is_eventbridges_own_delivery_and_exists_only_with_its_parameters() {
    let parameters = &template()["Parameters"];
    assert_eq!(
        parameters["WebhookUrl"]["Default"], "",
        "no webhook by default"
    );
    assert_eq!(parameters["WebhookApiKeyHeader"]["Default"], "x-api-key");
    assert_eq!(parameters["WebhookApiKey"]["Default"], "");
    assert_eq!(
        parameters["WebhookApiKey"]["NoEcho"], true,
        "the webhook's API key is never shown"
    );
    let condition = template()["Conditions"]["HasWebhook"].to_string();
    assert!(
        condition.contains(&reference("WebhookUrl").to_string()),
        "HasWebhook depends on WebhookUrl: {condition}"
    );

    let rules: Vec<_> = of_type("AWS::Events::Rule")
        .into_iter()
        .filter(|(name, _)| name.as_str() != "MailEventsRule")
        .collect();
    assert_eq!(rules.len(), 1, "one rule on the stack's bus, the webhook's");
    let (rule_name, rule) = rules[0];
    let p = &rule["Properties"];
    let (bus, bus_spec) = of_type("AWS::Events::EventBus")[0];
    assert_eq!(p["EventBusName"], reference(bus), "{rule_name} is on {bus}");
    assert_eq!(
        p["EventPattern"],
        json!({"source": [tokenwarden::events::SOURCE]}),
        "{rule_name}: every event the publisher puts"
    );
    assert_eq!(p["State"], "ENABLED");
    let targets = p["Targets"].as_array().expect("Targets");
    assert_eq!(targets.len(), 1, "{rule_name}: one target");
    let target = &targets[0];
    assert_eq!(
        target["RetryPolicy"],
        json!({"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400}),
        "{rule_name}: EventBridge retries for 24 hours"
    );

    let destination = target["Arn"]["Fn::GetAtt"][0]
        .as_str()
        .expect("an API destination of the template");
    let api = &resource(destination)["Properties"];
    assert_eq!(
        api["InvocationEndpoint"],
        reference("WebhookUrl"),
        "{destination}"
    );
    assert_eq!(api["HttpMethod"], "POST", "{destination}");
    assert!(
        api["InvocationRateLimitPerSecond"].is_number(),
        "{destination}: rate-limited"
    );
    let connection = api["ConnectionArn"]["Fn::GetAtt"][0]
        .as_str()
        .expect("a connection of the template");
    let auth = &resource(connection)["Properties"];
    assert_eq!(auth["AuthorizationType"], "API_KEY", "{connection}");
    assert_eq!(
        auth["AuthParameters"]["ApiKeyAuthParameters"],
        json!({"ApiKeyName": {"Ref": "WebhookApiKeyHeader"}, "ApiKeyValue": {"Ref": "WebhookApiKey"}}),
        "{connection}"
    );

    let caller = target["RoleArn"]["Fn::GetAtt"][0]
        .as_str()
        .expect("the target's role is a role of the template");
    for statement in resource(caller)["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        .as_array()
        .expect("trust statements")
    {
        assert_eq!(
            statement["Principal"],
            json!({"Service": "events.amazonaws.com"}),
            "{caller}: only EventBridge assumes it"
        );
    }

    // Undeliverable events: an encrypted queue only this rule may write to, with an alarm.
    let dlq = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
        .as_str()
        .expect("a dead-letter queue of the template");
    assert_eq!(resource(dlq)["Type"], "AWS::SQS::Queue", "{dlq}");
    assert_eq!(
        resource(dlq)["Properties"]["KmsMasterKeyId"],
        reference("Key"),
        "{dlq}"
    );
    let policies: Vec<_> = of_type("AWS::SQS::QueuePolicy")
        .into_iter()
        .filter(|(_, q)| {
            q["Properties"]["Queues"]
                .as_array()
                .is_some_and(|queues| queues.contains(&reference(dlq)))
        })
        .collect();
    assert_eq!(policies.len(), 1, "a queue policy on {dlq}");
    let (queue_policy, policy) = policies[0];
    assert_eq!(
        policy["Properties"]["PolicyDocument"]["Statement"],
        json!([{
            "Sid": "WebhookRuleDeadLetters",
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": {"Fn::GetAtt": [dlq, "Arn"]},
            "Condition": {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [rule_name, "Arn"]}}}
        }]),
        "{queue_policy}: EventBridge sends to {dlq} for {rule_name} only"
    );
    // EventBridge encrypts what it dead-letters with the queue's key, as itself: the key
    // policy allows it for this rule, named by the ARN its bus and name make.
    let rule_arn = format!(
        "arn:${{AWS::Partition}}:events:${{AWS::Region}}:${{AWS::AccountId}}:rule/{}/{}",
        sub_string(&bus_spec["Properties"]["Name"]).expect("the bus's name is a !Sub"),
        sub_string(&p["Name"]).expect("the rule's name is a !Sub")
    );
    let key_statements: Vec<&Value> = resource("Key")["Properties"]["KeyPolicy"]["Statement"]
        .as_array()
        .expect("key policy statements")
        .iter()
        .filter_map(|s| match s.get("Fn::If") {
            Some(choice) => {
                assert_eq!(
                    choice[0], "HasWebhook",
                    "a key policy statement under {}",
                    choice[0]
                );
                assert_eq!(choice[2], reference("AWS::NoValue"));
                Some(&choice[1])
            }
            None => {
                // Besides the webhook's, EventBridge uses the key only to queue SES's mail
                // events, and only for the mail events rule.
                if s["Principal"]["Service"] == "events.amazonaws.com" {
                    assert_eq!(
                        sub_string(&s["Condition"]["ArnEquals"]["aws:SourceArn"]),
                        Some("arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/${AWS::StackName}-mail-events"),
                        "EventBridge uses the key only with a webhook or for the mail events"
                    );
                    assert_eq!(
                        sub_string(&resource("MailEventsRule")["Properties"]["Name"]),
                        Some("${AWS::StackName}-mail-events")
                    );
                }
                None
            }
        })
        .collect();
    assert_eq!(
        key_statements.len(),
        1,
        "one key policy statement for the webhook"
    );
    let grant = key_statements[0];
    assert_eq!(
        grant["Principal"],
        json!({"Service": "events.amazonaws.com"})
    );
    assert_eq!(
        statement_actions(grant)
            .into_iter()
            .collect::<BTreeSet<_>>(),
        BTreeSet::from(["kms:Decrypt", "kms:GenerateDataKey"])
    );
    assert_eq!(
        sub_string(&grant["Condition"]["ArnEquals"]["aws:SourceArn"]),
        Some(rule_arn.as_str()),
        "the key policy names {rule_name}"
    );
    let alarms = alarms_on(
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        &json!({"Fn::GetAtt": [dlq, "QueueName"]}),
    );
    assert_eq!(alarms.len(), 1, "an alarm on {dlq}");

    // All of it, and whatever refers to it, only with a webhook.
    let pieces = [
        rule_name.as_str(),
        destination,
        connection,
        caller,
        dlq,
        queue_policy.as_str(),
        alarms[0].0.as_str(),
    ];
    for (name, r) in resources() {
        let text = r.to_string();
        if pieces.contains(&name.as_str())
            || pieces
                .iter()
                .any(|piece| text.contains(&format!("\"{piece}\"")))
        {
            assert_eq!(r["Condition"], "HasWebhook", "{name}: only with a webhook");
        }
    }
    for (name, output) in template()["Outputs"].as_object().expect("Outputs") {
        let text = output.to_string();
        if pieces
            .iter()
            .any(|piece| text.contains(&format!("\"{piece}\"")))
        {
            assert_eq!(
                output["Condition"], "HasWebhook",
                "output {name}: only with a webhook"
            );
        }
    }
}

#[test]
fn every_alarm_notifies_the_alarm_topic_and_the_throttles_alarm_counts_every_function() {
    let notify =
        json!({"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]});
    for (name, alarm) in of_type("AWS::CloudWatch::Alarm") {
        assert_eq!(alarm["Properties"]["AlarmActions"], notify, "{name}");
    }
    let metrics = resource("ThrottlesAlarm")["Properties"]["Metrics"]
        .as_array()
        .expect("ThrottlesAlarm: Metrics");
    let counted: BTreeSet<String> = metrics
        .iter()
        .filter(|m| m["MetricStat"]["Metric"]["MetricName"] == "Throttles")
        .map(|m| {
            m["MetricStat"]["Metric"]["Dimensions"][0]["Value"]["Ref"]
                .as_str()
                .expect("a function of the template")
                .to_owned()
        })
        .collect();
    let every: BTreeSet<String> = functions()
        .values()
        .map(|(name, _)| name.to_string())
        .collect();
    assert_eq!(
        counted, every,
        "ThrottlesAlarm counts every function's throttles"
    );
    let expression = metrics
        .iter()
        .find(|m| m["ReturnData"] == true)
        .and_then(|m| m["Expression"].as_str())
        .expect("ThrottlesAlarm: the expression it alarms on");
    let terms: BTreeSet<&str> = expression.split('+').map(str::trim).collect();
    let ids: BTreeSet<&str> = metrics
        .iter()
        .filter(|m| m["ReturnData"] == false)
        .map(|m| m["Id"].as_str().expect("Id"))
        .collect();
    assert_eq!(terms, ids, "ThrottlesAlarm adds up all of them");
}
