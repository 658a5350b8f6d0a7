# cd modules/monitoring && terraform init -backend=false && terraform test -var='aws_endpoint="http://127.0.0.1:4598"'
#
# moto's server implements Amazon Managed Service for Prometheus workspaces (alias, tags, logging
# configuration) and rule groups namespaces, but neither alert manager definitions nor Managed Grafana, and
# it ignores a workspace's kmsKeyArn. So the apply run creates the workspace, its log group and the rule
# namespaces with no alarm topic and no Grafana; the alert manager, the Grafana role and the encryption
# settings are asserted in plan runs (the workspace's computed ARN and endpoint given by override_resource).

# aws_endpoint (the moto server's URL) must come from -var: a value in this file would override the
# command line, since terraform test ranks file variables above -var.
variables {
  name_prefix = "creditscore-test"
  environment = "test"
  tags        = { Project = "creditscore", Environment = "test" }
  kms_key_arn = "arn:aws:kms:ap-southeast-1:123456789012:key/11111111-2222-3333-4444-555555555555"
  rules_dir   = "../../monitoring/rules"
}

provider "aws" {
  region                      = "ap-southeast-1"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = false

  endpoints {
    amp  = var.aws_endpoint
    iam  = var.aws_endpoint
    logs = var.aws_endpoint
    sts  = var.aws_endpoint
  }
}

run "plan_alerts_and_grafana" {
  command = plan

  variables {
    alarm_topic_arn = "arn:aws:sns:ap-southeast-1:123456789012:creditscore-test-scoring-alarms"
    enable_grafana  = true
  }

  override_resource {
    target          = aws_prometheus_workspace.this
    override_during = plan
    values = {
      id                  = "ws-11111111-2222-3333-4444-555555555555"
      arn                 = "arn:aws:aps:ap-southeast-1:123456789012:workspace/ws-11111111-2222-3333-4444-555555555555"
      prometheus_endpoint = "https://aps-workspaces.ap-southeast-1.amazonaws.com/workspaces/ws-11111111-2222-3333-4444-555555555555/"
    }
  }

  override_resource {
    target          = aws_cloudwatch_log_group.workspace
    override_during = plan
    values = {
      arn = "arn:aws:logs:ap-southeast-1:123456789012:log-group:/aws/vendedlogs/prometheus/creditscore-test"
    }
  }

  # One namespace per rule file of monitoring/rules, named after it, holding the file as is (the promtool
  # unit tests of monitoring/tests are not rule files).
  assert {
    condition     = toset(keys(aws_prometheus_rule_group_namespace.this)) == toset([for f in fileset("../../monitoring/rules", "*.yml") : trimsuffix(f, ".yml")]) && length(aws_prometheus_rule_group_namespace.this) >= 2
    error_message = "Every rule file of monitoring/rules must be one rule groups namespace of the same name."
  }

  assert {
    condition     = alltrue([for name, namespace in aws_prometheus_rule_group_namespace.this : namespace.data == file("../../monitoring/rules/${name}.yml")]) && contains(keys(aws_prometheus_rule_group_namespace.this), "alerts") && contains(keys(aws_prometheus_rule_group_namespace.this), "recording")
    error_message = "Each namespace's data must be its rule file, unchanged."
  }

  assert {
    condition     = alltrue([for name, namespace in aws_prometheus_rule_group_namespace.this : namespace.workspace_id == "ws-11111111-2222-3333-4444-555555555555" && !endswith(name, "_test")])
    error_message = "The namespaces belong to the workspace; no test file is loaded."
  }

  # The alert manager: every alert to the alarm topic, signed for the workspace's region.
  assert {
    condition     = length(aws_prometheus_alert_manager_definition.this) == 1 && aws_prometheus_alert_manager_definition.this[0].workspace_id == "ws-11111111-2222-3333-4444-555555555555"
    error_message = "An alarm topic gives the workspace an alert manager definition."
  }

  assert {
    condition = alltrue([
      for receiver in yamldecode(yamldecode(aws_prometheus_alert_manager_definition.this[0].definition).alertmanager_config).receivers : (
        keys(receiver) == ["name", "sns_configs"] &&
        [for sns in receiver.sns_configs : sns.topic_arn] == [var.alarm_topic_arn] &&
        [for sns in receiver.sns_configs : sns.sigv4.region] == ["ap-southeast-1"]
      )
    ])
    error_message = "Every receiver must publish to the alarm topic, and only to it, SigV4-signed in the workspace's region."
  }

  assert {
    condition = (
      yamldecode(yamldecode(aws_prometheus_alert_manager_definition.this[0].definition).alertmanager_config).route.receiver == "sns" &&
      yamldecode(yamldecode(aws_prometheus_alert_manager_definition.this[0].definition).alertmanager_config).route.group_by == ["alertname", "severity"] &&
      alltrue([for route in yamldecode(yamldecode(aws_prometheus_alert_manager_definition.this[0].definition).alertmanager_config).route.routes : route.receiver == "sns"]) &&
      length(yamldecode(yamldecode(aws_prometheus_alert_manager_definition.this[0].definition).alertmanager_config).receivers) == 1
    )
    error_message = "The route sends every alert (critical ones repeated more often) to the one SNS receiver, grouped by alertname and severity."
  }

  assert {
    condition     = strcontains(yamldecode(yamldecode(aws_prometheus_alert_manager_definition.this[0].definition).alertmanager_config).receivers[0].sns_configs[0].subject, "[test]")
    error_message = "Notifications name the environment."
  }

  # Encryption: the workspace's metrics and its log group under the project key; logging to every stream.
  assert {
    condition     = aws_prometheus_workspace.this.kms_key_arn == var.kms_key_arn && aws_cloudwatch_log_group.workspace.kms_key_id == var.kms_key_arn
    error_message = "The workspace and its log group must be encrypted with the project key."
  }

  assert {
    condition     = aws_prometheus_workspace.this.logging_configuration[0].log_group_arn == "arn:aws:logs:ap-southeast-1:123456789012:log-group:/aws/vendedlogs/prometheus/creditscore-test:*" && aws_cloudwatch_log_group.workspace.retention_in_days == 365
    error_message = "The workspace logs to its own log group (ARN ending in :*), kept a year."
  }

  assert {
    condition     = output.remote_write == { workspace_arn = "arn:aws:aps:ap-southeast-1:123456789012:workspace/ws-11111111-2222-3333-4444-555555555555", url = "https://aps-workspaces.ap-southeast-1.amazonaws.com/workspaces/ws-11111111-2222-3333-4444-555555555555/api/v1/remote_write" }
    error_message = "remote_write gives modules/compute the workspace ARN and its remote-write URL."
  }

  assert {
    condition     = output.query_url == "https://aps-workspaces.ap-southeast-1.amazonaws.com/workspaces/ws-11111111-2222-3333-4444-555555555555/api/v1/query"
    error_message = "query_url is the workspace's instant-query endpoint."
  }

  # Grafana: assumed by this account's Grafana workspaces only; queries this Prometheus workspace only.
  assert {
    condition = (
      one(data.aws_iam_policy_document.grafana_assume[0].statement[0].principals).identifiers == toset(["grafana.amazonaws.com"]) &&
      toset([for c in data.aws_iam_policy_document.grafana_assume[0].statement[0].condition : c.variable]) == toset(["aws:SourceAccount", "aws:SourceArn"])
    )
    error_message = "Only this account's Grafana workspaces may assume the Grafana role."
  }

  assert {
    condition = (
      one([for st in data.aws_iam_policy_document.grafana[0].statement : st if st.sid == "QueryThisWorkspace"]).resources == toset(["arn:aws:aps:ap-southeast-1:123456789012:workspace/ws-11111111-2222-3333-4444-555555555555"]) &&
      one([for st in data.aws_iam_policy_document.grafana[0].statement : st if st.sid == "QueryThisWorkspace"]).actions == toset(["aps:QueryMetrics", "aps:GetSeries", "aps:GetLabels", "aps:GetMetricMetadata", "aps:DescribeWorkspace"]) &&
      !anytrue([for st in data.aws_iam_policy_document.grafana[0].statement : anytrue([for a in st.actions : a == "aps:RemoteWrite" || a == "aps:*" || a == "*"])])
    )
    error_message = "The Grafana role may query this workspace and only it; it can never write."
  }

  assert {
    condition     = aws_grafana_workspace.this[0].permission_type == "CUSTOMER_MANAGED" && aws_grafana_workspace.this[0].account_access_type == "CURRENT_ACCOUNT" && aws_grafana_workspace.this[0].data_sources == tolist(["PROMETHEUS"])
    error_message = "The Grafana workspace uses the module's role, in this account, with Prometheus as its data source."
  }
}

run "plan_without_topic" {
  command = plan

  assert {
    condition     = length(aws_prometheus_alert_manager_definition.this) == 0 && length(aws_grafana_workspace.this) == 0 && length(aws_iam_role.grafana) == 0 && output.grafana_url == null
    error_message = "No alarm topic: no alert manager definition; Grafana only when enabled."
  }
}

run "rejects_bad_inputs" {
  command = plan

  variables {
    name_prefix                      = "Creditscore_Test"
    alarm_topic_arn                  = "creditscore-alarms"
    alert_repeat_interval            = "forever"
    grafana_authentication_providers = ["PASSWORD"]
    rules_dir                        = "../../monitoring/grafana"
  }

  expect_failures = [var.name_prefix, var.alarm_topic_arn, var.alert_repeat_interval, var.grafana_authentication_providers, var.rules_dir]
}

# Applied against moto: the workspace, its log group and logging configuration, and the rule namespaces.
run "apply" {
  command = apply

  assert {
    condition     = startswith(output.workspace_id, "ws-") && output.remote_write.workspace_arn == aws_prometheus_workspace.this.arn && output.remote_write.url == "${aws_prometheus_workspace.this.prometheus_endpoint}api/v1/remote_write"
    error_message = "The workspace exists and remote_write names it."
  }

  assert {
    condition     = alltrue([for name, namespace in aws_prometheus_rule_group_namespace.this : strcontains(namespace.arn, ":rulegroupsnamespace/${output.workspace_id}/${name}")]) && length(output.rule_namespaces) == length(fileset("../../monitoring/rules", "*.yml"))
    error_message = "Every rule file is a namespace of the workspace."
  }

  assert {
    condition     = aws_prometheus_workspace.this.logging_configuration[0].log_group_arn == "${aws_cloudwatch_log_group.workspace.arn}:*" && output.log_group_name == "/aws/vendedlogs/prometheus/creditscore-test"
    error_message = "The workspace logs to its log group."
  }
}
