# cd modules/compute && terraform init -backend=false && terraform test -var=aws_endpoint=http://127.0.0.1:4598
# Plan runs assert the security properties of both modes; the apply runs create the single mode and then
# the asg mode against moto's server (default VPC and AMI looked up by tests/setup).

# aws_endpoint (the moto server's URL) must come from -var: a value in this file would override the
# command line, since terraform test ranks file variables above -var.
variables {
  name_prefix = "creditscore-test"
  project     = "creditscore"
  environment = "test"
  tags        = { Project = "creditscore", Environment = "test" }

  vpc_id             = "vpc-0123456789abcdef0"
  public_subnet_ids  = ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"]
  private_subnet_ids = ["subnet-0bbbbbbbbbbbbbbb1", "subnet-0bbbbbbbbbbbbbbb2"]

  kms_key_arn          = "arn:aws:kms:ap-southeast-1:123456789012:key/11111111-2222-3333-4444-555555555555"
  models_bucket        = "creditscore-test-models"
  models_bucket_arn    = "arn:aws:s3:::creditscore-test-models"
  artifacts_bucket     = "creditscore-test-artifacts"
  artifacts_bucket_arn = "arn:aws:s3:::creditscore-test-artifacts"

  release_key                 = "releases/creditscore-1.0-py3-none-any.whl"
  release_sha256              = "1111111111111111111111111111111111111111111111111111111111111111"
  release_requirements_key    = "releases/creditscore-1.0-py3-none-any.whl.requirements.txt"
  release_requirements_sha256 = "2222222222222222222222222222222222222222222222222222222222222222"
  customers_table_arn         = "arn:aws:dynamodb:ap-southeast-1:123456789012:table/creditscore-test-customers"
  score_history_table_arn     = "arn:aws:dynamodb:ap-southeast-1:123456789012:table/creditscore-test-score-history"

  ami_id              = "ami-0123456789abcdef0"
  detailed_monitoring = false
}

provider "aws" {
  region                      = "ap-southeast-1"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = false
  s3_use_path_style           = true

  endpoints {
    acm         = var.aws_endpoint
    autoscaling = var.aws_endpoint
    cloudwatch  = var.aws_endpoint
    ec2         = var.aws_endpoint
    elbv2       = var.aws_endpoint
    iam         = var.aws_endpoint
    kms         = var.aws_endpoint
    logs        = var.aws_endpoint
    sns         = var.aws_endpoint
    ssm         = var.aws_endpoint
    sts         = var.aws_endpoint
    wafv2       = var.aws_endpoint
  }
}

run "single_plan" {
  command = plan

  variables {
    mode          = "single"
    allowed_cidrs = ["203.0.113.0/24"]
  }

  assert {
    condition     = aws_launch_template.this.metadata_options[0].http_tokens == "required" && aws_launch_template.this.metadata_options[0].http_put_response_hop_limit == 1
    error_message = "IMDSv2 must be required with a hop limit of 1."
  }

  assert {
    condition     = aws_instance.this[0].metadata_options[0].http_tokens == "required"
    error_message = "The single instance must require IMDSv2 itself too."
  }

  assert {
    condition     = aws_launch_template.this.block_device_mappings[0].ebs[0].encrypted == "true" && aws_launch_template.this.block_device_mappings[0].ebs[0].kms_key_id == var.kms_key_arn && aws_launch_template.this.block_device_mappings[0].ebs[0].volume_type == "gp3"
    error_message = "The root volume must be gp3, encrypted with the data key."
  }

  assert {
    condition     = aws_launch_template.this.monitoring[0].enabled == false
    error_message = "detailed_monitoring = false must reach the launch template."
  }

  assert {
    condition     = aws_launch_template.this.network_interfaces[0].associate_public_ip_address == "true" && aws_launch_template.this.network_interfaces[0].subnet_id == "subnet-0aaaaaaaaaaaaaaa1"
    error_message = "single mode: a public IP in the first public subnet."
  }

  assert {
    condition     = length(aws_instance.this) == 1 && length(aws_autoscaling_group.this) == 0 && length(aws_lb.this) == 0 && length(aws_security_group.alb) == 0
    error_message = "single mode: one instance, no ASG, ALB or ALB security group."
  }

  assert {
    condition     = [for r in aws_vpc_security_group_ingress_rule.service_from_cidrs : r.cidr_ipv4] == ["203.0.113.0/24"] && alltrue([for r in aws_vpc_security_group_ingress_rule.service_from_cidrs : r.from_port == 8080 && r.to_port == 8080])
    error_message = "single mode: only the service port, only from allowed_cidrs."
  }

  assert {
    condition     = length(aws_vpc_security_group_ingress_rule.service_from_alb) == 0
    error_message = "single mode: no ALB rule."
  }

  assert {
    condition     = aws_vpc_security_group_egress_rule.service_https.from_port == 443 && aws_vpc_security_group_egress_rule.service_https.to_port == 443
    error_message = "Egress is HTTPS only."
  }

  assert {
    condition     = aws_security_group.service.name == "creditscore-test-scoring-service" && aws_iam_role.instance.name == "creditscore-test-scoring-instance" && aws_launch_template.this.name == "creditscore-test-scoring" && aws_cloudwatch_log_group.service.name == "/creditscore-test/scoring-service"
    error_message = "Names come from name_prefix."
  }

  assert {
    condition     = aws_cloudwatch_log_group.service.kms_key_id == var.kms_key_arn && aws_cloudwatch_log_group.service.retention_in_days == 365
    error_message = "The log group is KMS-encrypted and kept a year."
  }

  assert {
    condition = alltrue([
      for needle in [
        "CREDITSCORE_PROJECT=creditscore\n",
        "CREDITSCORE_ENV=test\n",
        "CREDITSCORE_AWS_ENDPOINT_URL=\n",
        "CREDITSCORE_AWS_REGION=ap-southeast-1\n",
        "CREDITSCORE_HOST=0.0.0.0\n",
        "CREDITSCORE_PORT=8080\n",
        "CREDITSCORE_WORKERS=0\n",
        "CREDITSCORE_LOG_FORMAT=json\n",
        "CREDITSCORE_CUSTOMERS_TABLE=creditscore-test-customers\n",
        "CREDITSCORE_SCORE_HISTORY_TABLE=creditscore-test-score-history\n",
        "CREDITSCORE_MODELS_BUCKET=creditscore-test-models\n",
        "--name \"/creditscore-test/api-keys\" --with-decryption",
        "--name \"/creditscore-test/pseudonym-key\" --with-decryption",
        "printf 'CREDITSCORE_PSEUDONYM_KEY=%s\\n' \"$PSEUDONYM_KEY\" >> /etc/creditscore.env",
        "ExecStart=/opt/creditscore/venv/bin/creditscore serve",
        "Restart=always",
        "KillSignal=SIGTERM",
        "TimeoutStopSec=45\n",
        "systemctl enable --now creditscore.service creditscore-liveness.timer",
      ] : strcontains(base64decode(aws_launch_template.this.user_data), needle)
    ])
    error_message = "The user data must install the release, write the settings (both secrets from SSM) and run creditscore serve under systemd."
  }

  assert {
    condition = alltrue([
      for needle in [
        "\"s3://creditscore-test-artifacts/releases/creditscore-1.0-py3-none-any.whl\" \"$RELEASE\"",
        "\"s3://creditscore-test-artifacts/releases/creditscore-1.0-py3-none-any.whl.requirements.txt\" \"$REQUIREMENTS\"",
        "sha256sum --check --strict <<SUMS\n1111111111111111111111111111111111111111111111111111111111111111  $RELEASE\n2222222222222222222222222222222222222222222222222222222222222222  $REQUIREMENTS\nSUMS",
        "\"creditscore\" \"$RELEASE\" \"1111111111111111111111111111111111111111111111111111111111111111\" > \"$RELEASE_DIR/release.txt\"",
        "install --require-hashes --no-deps -r \"$RELEASE_DIR/build-requirements.txt\"",
        "install --require-hashes --no-build-isolation --extra-index-url \"https://download.pytorch.org/whl/cpu\"",
        "-r \"$REQUIREMENTS\" -r \"$RELEASE_DIR/release.txt\"",
      ] : strcontains(base64decode(aws_launch_template.this.user_data), needle)
    ])
    error_message = "The hosts install the release from the artifacts bucket, both files checked against the sha256 Terraform was given, in pip's hash-checking mode."
  }

  assert {
    condition     = !strcontains(base64decode(aws_launch_template.this.user_data), "--upgrade") && !strcontains(base64decode(aws_launch_template.this.user_data), "--constraint") && !strcontains(base64decode(aws_launch_template.this.user_data), "s3://creditscore-test-models/releases")
    error_message = "Nothing is pip-installed outside hash-checking mode (no pip self-upgrade), and nothing is installed from the models bucket."
  }

  assert {
    condition = alltrue([
      for needle in [
        "MODE=single\nPORT=8080\nTHRESHOLD=6\nSTARTUP_SECONDS=300\n",
        "curl -fsS -o /dev/null --max-time 5 \"http://127.0.0.1:$PORT/health\"",
        "systemctl restart creditscore.service",
        "OnUnitActiveSec=10\n",
      ] : strcontains(base64decode(aws_launch_template.this.user_data), needle)
    ]) && !strcontains(base64decode(aws_launch_template.this.user_data), "complete-lifecycle-action --region")
    error_message = "single mode: a liveness watchdog on /health every 10 s restarts the service after 6 failures; no launch hook."
  }

  assert {
    condition     = !strcontains(base64decode(aws_launch_template.this.user_data), "CREDITSCORE_API_KEYS=sha256") && !strcontains(base64decode(aws_launch_template.this.user_data), "CREDITSCORE_PSEUDONYM_KEY=\n")
    error_message = "No API key or pseudonym key may be written into the user data."
  }

  assert {
    condition = alltrue([
      for needle in [
        "\"arn:aws:dynamodb:ap-southeast-1:123456789012:table/creditscore-test-customers/index/*\"",
        "\"dynamodb:TransactWriteItems\"",
        "\"arn:aws:s3:::creditscore-test-models/*\"",
        "\"arn:aws:ssm:ap-southeast-1:123456789012:parameter/creditscore-test/api-keys\"",
        "\"kms:GenerateDataKey\"",
      ] : strcontains(aws_iam_role_policy.instance.policy, needle)
    ])
    error_message = "The instance policy must grant the tables, their indexes, the models bucket, the API-keys parameter and the key."
  }

  assert {
    condition     = one([for st in data.aws_iam_policy_document.instance.statement : st if st.sid == "PseudonymKeyParameter"]).actions == toset(["ssm:GetParameter"]) && one([for st in data.aws_iam_policy_document.instance.statement : st if st.sid == "PseudonymKeyParameter"]).resources == toset(["arn:aws:ssm:ap-southeast-1:123456789012:parameter/creditscore-test/pseudonym-key"])
    error_message = "The hosts may read the pseudonym-key parameter, and only it, with ssm:GetParameter."
  }

  assert {
    condition     = one([for st in data.aws_iam_policy_document.instance.statement : st if st.sid == "NoOtherParameters"]).effect == "Deny" && one([for st in data.aws_iam_policy_document.instance.statement : st if st.sid == "NoOtherParameters"]).not_resources == toset(["arn:aws:ssm:ap-southeast-1:123456789012:parameter/creditscore-test/api-keys", "arn:aws:ssm:ap-southeast-1:123456789012:parameter/creditscore-test/pseudonym-key"]) && contains(one([for st in data.aws_iam_policy_document.instance.statement : st if st.sid == "NoOtherParameters"]).actions, "ssm:GetParameters")
    error_message = "Every other parameter is denied, whatever AmazonSSMManagedInstanceCore grants (ssm:GetParameter on *)."
  }

  assert {
    condition     = one([for st in data.aws_iam_policy_document.instance.statement : st if st.sid == "ReadRelease"]).resources == toset(["arn:aws:s3:::creditscore-test-artifacts/releases/*"]) && one([for st in data.aws_iam_policy_document.instance.statement : st if st.sid == "ReadRelease"]).actions == toset(["s3:GetObject"])
    error_message = "The hosts read only the releases/ prefix of the artifacts bucket."
  }

  assert {
    condition     = one([for st in data.aws_iam_policy_document.instance.statement : st if st.sid == "ArtifactsAreReadOnly"]).effect == "Deny" && one([for st in data.aws_iam_policy_document.instance.statement : st if st.sid == "ArtifactsAreReadOnly"]).resources == toset(["arn:aws:s3:::creditscore-test-artifacts", "arn:aws:s3:::creditscore-test-artifacts/*"]) && contains(one([for st in data.aws_iam_policy_document.instance.statement : st if st.sid == "ArtifactsAreReadOnly"]).actions, "s3:Put*")
    error_message = "The hosts are explicitly denied every write to the artifacts bucket."
  }

  assert {
    condition     = !strcontains(aws_iam_role_policy.instance.policy, "\"s3:PutObject\"") && !strcontains(aws_iam_role_policy.instance.policy, "\"dynamodb:DeleteItem\"") && !strcontains(aws_iam_role_policy.instance.policy, "\"dynamodb:Scan\"")
    error_message = "The hosts neither write models nor delete or scan items."
  }

  assert {
    condition     = !strcontains(aws_iam_role_policy.instance.policy, "autoscaling:")
    error_message = "single mode: the host has no Auto Scaling permission at all."
  }

  assert {
    condition     = aws_iam_role_policy_attachment.ssm_core.policy_arn == "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
    error_message = "Session Manager replaces SSH."
  }

  assert {
    condition = (
      !anytrue([for needle in ["prometheus", "remote_write", "metrics-key", "creditscore-collector"] : strcontains(base64decode(aws_launch_template.this.user_data), needle)]) &&
      !strcontains(aws_iam_role_policy.instance.policy, "aps:") && !strcontains(aws_iam_role_policy.instance.policy, "metrics-key") &&
      output.metrics_key_parameter_name == null && output.metrics_collector == null
    )
    error_message = "Without amp_remote_write: no collector, no metrics-key parameter, no Managed Prometheus permission."
  }
}

run "asg_plan" {
  command = plan

  variables {
    mode                = "asg"
    allowed_cidrs       = ["0.0.0.0/0"]
    certificate_arn     = "arn:aws:acm:ap-southeast-1:123456789012:certificate/11111111-2222-3333-4444-555555555555"
    alarm_email         = "oncall@example.com"
    detailed_monitoring = true
    extra_settings      = { CREDITSCORE_ALLOW_DEGRADED = "true" }
    access_logs_bucket  = "creditscore-test-logs"
    web_acl_arn         = "arn:aws:wafv2:ap-southeast-1:123456789012:regional/webacl/creditscore/11111111-2222-3333-4444-555555555555"
  }

  assert {
    condition     = length(aws_instance.this) == 0 && length(aws_autoscaling_group.this) == 1 && length(aws_lb.this) == 1
    error_message = "asg mode: an ASG behind an ALB, no single instance."
  }

  assert {
    condition     = aws_launch_template.this.network_interfaces[0].associate_public_ip_address == "false" && aws_launch_template.this.network_interfaces[0].subnet_id == null && aws_launch_template.this.monitoring[0].enabled
    error_message = "asg mode: no public IP, subnets from the ASG, detailed monitoring on."
  }

  assert {
    condition     = toset(aws_autoscaling_group.this[0].vpc_zone_identifier) == toset(var.private_subnet_ids)
    error_message = "The ASG runs in the private subnets."
  }

  assert {
    condition     = aws_autoscaling_group.this[0].health_check_type == "EC2" && aws_autoscaling_group.this[0].health_check_grace_period == 300
    error_message = "Liveness decides replacement: EC2 health checks (plus the host's /health watchdog) with a 300 s grace period, never the ALB's /ready check, which a DynamoDB outage fails on every host at once."
  }

  assert {
    condition = (
      length(aws_autoscaling_group.this[0].initial_lifecycle_hook) == 1 &&
      one(aws_autoscaling_group.this[0].initial_lifecycle_hook).name == "service-started" &&
      one(aws_autoscaling_group.this[0].initial_lifecycle_hook).lifecycle_transition == "autoscaling:EC2_INSTANCE_LAUNCHING" &&
      one(aws_autoscaling_group.this[0].initial_lifecycle_hook).default_result == "ABANDON" &&
      one(aws_autoscaling_group.this[0].initial_lifecycle_hook).heartbeat_timeout == 900 &&
      aws_autoscaling_group.this[0].default_instance_warmup == 60
    )
    error_message = "New hosts wait in Pending:Wait until their service answers (ABANDON after 900 s), then warm up 60 s: an instance refresh replaces hosts only with hosts that serve."
  }

  assert {
    condition     = one([for st in data.aws_iam_policy_document.instance.statement : st if st.sid == "OwnGroupInstanceHealth"]).actions == toset(["autoscaling:SetInstanceHealth"]) && one([for st in data.aws_iam_policy_document.instance.statement : st if st.sid == "OwnGroupInstanceHealth"]).resources == toset(["arn:aws:autoscaling:ap-southeast-1:123456789012:autoScalingGroup:*:autoScalingGroupName/creditscore-test-scoring"])
    error_message = "The watchdog may mark hosts Unhealthy (autoscaling:SetInstanceHealth) in its own group only."
  }

  assert {
    condition     = one([for st in data.aws_iam_policy_document.instance.statement : st if st.sid == "OwnGroupLaunchHook"]).actions == toset(["autoscaling:CompleteLifecycleAction"]) && one([for st in data.aws_iam_policy_document.instance.statement : st if st.sid == "OwnGroupLaunchHook"]).resources == toset(["arn:aws:autoscaling:ap-southeast-1:123456789012:autoScalingGroup:*:autoScalingGroupName/creditscore-test-scoring"])
    error_message = "The bootstrap may complete launch lifecycle actions of its own group only."
  }

  assert {
    condition     = length([for st in data.aws_iam_policy_document.instance.statement : st if anytrue([for a in st.actions : startswith(a, "autoscaling:")])]) == 2 && !strcontains(aws_iam_role_policy.instance.policy, "\"autoscaling:*\"")
    error_message = "No other Auto Scaling permission."
  }

  assert {
    condition = alltrue([
      for needle in [
        "MODE=asg\nPORT=8080\nTHRESHOLD=6\nSTARTUP_SECONDS=300\n",
        "ASG_NAME=creditscore-test-scoring\n",
        "aws autoscaling set-instance-health --region \"$REGION\" --instance-id \"$INSTANCE_ID\" \\\n    --health-status Unhealthy --should-respect-grace-period",
        "--auto-scaling-group-name \"creditscore-test-scoring\"",
        "--lifecycle-hook-name \"service-started\"",
        "wait_for /health $(( 900 - 60 - SECONDS ))",
        "LAUNCH_RESULT=CONTINUE",
        "http://169.254.169.254/latest/api/token",
      ] : strcontains(base64decode(aws_launch_template.this.user_data), needle)
    ])
    error_message = "asg mode: the watchdog marks its own instance (IMDSv2) Unhealthy after 6 failed /health probes; the bootstrap completes the launch hook."
  }

  assert {
    condition     = aws_lb.this[0].internal == false && aws_lb.this[0].drop_invalid_header_fields && aws_lb.this[0].enable_deletion_protection && toset(aws_lb.this[0].subnets) == toset(var.public_subnet_ids)
    error_message = "Internet-facing ALB in the public subnets, dropping invalid headers, deletion-protected."
  }

  assert {
    condition     = aws_lb.this[0].access_logs[0].enabled && aws_lb.this[0].access_logs[0].bucket == "creditscore-test-logs" && length(aws_wafv2_web_acl_association.this) == 1
    error_message = "Access logs and the web ACL follow their inputs."
  }

  assert {
    condition     = aws_lb.this[0].name == "creditscore-test-alb" && aws_lb_target_group.this[0].name == "creditscore-test-tg" && aws_autoscaling_group.this[0].name == "creditscore-test-scoring" && aws_sns_topic.alarms[0].name == "creditscore-test-scoring-alarms"
    error_message = "Names come from name_prefix."
  }

  assert {
    condition     = aws_lb_target_group.this[0].port == 8080 && aws_lb_target_group.this[0].health_check[0].path == "/ready" && aws_lb_target_group.this[0].health_check[0].matcher == "200" && aws_lb_target_group.this[0].health_check[0].enabled
    error_message = "Readiness decides routing: the target group forwards to the service port and checks /ready for 200."
  }

  assert {
    condition     = aws_lb_listener.https[0].port == 443 && aws_lb_listener.https[0].protocol == "HTTPS" && startswith(aws_lb_listener.https[0].ssl_policy, "ELBSecurityPolicy-TLS13-") && aws_lb_listener.https[0].certificate_arn == var.certificate_arn
    error_message = "HTTPS on 443 with a TLS 1.3/1.2 policy and the certificate."
  }

  assert {
    condition     = aws_lb_listener.http_redirect[0].port == 80 && aws_lb_listener.http_redirect[0].default_action[0].type == "redirect" && aws_lb_listener.http_redirect[0].default_action[0].redirect[0].protocol == "HTTPS" && aws_lb_listener.http_redirect[0].default_action[0].redirect[0].port == "443"
    error_message = "Port 80 only redirects to HTTPS."
  }

  assert {
    condition     = length(aws_vpc_security_group_ingress_rule.service_from_cidrs) == 0 && length(aws_vpc_security_group_ingress_rule.service_from_alb) == 1 && aws_vpc_security_group_ingress_rule.service_from_alb[0].from_port == 8080
    error_message = "asg mode: the hosts accept the service port from the ALB only."
  }

  assert {
    condition     = alltrue(concat([for r in aws_vpc_security_group_ingress_rule.alb_https : r.from_port == 443 && r.to_port == 443], [for r in aws_vpc_security_group_ingress_rule.alb_http : r.from_port == 80 && r.to_port == 80])) && length(aws_vpc_security_group_ingress_rule.alb_https) == 1
    error_message = "0.0.0.0/0 reaches the ALB listeners' ports 443 and 80 only."
  }

  assert {
    condition     = aws_autoscaling_policy.cpu[0].target_tracking_configuration[0].predefined_metric_specification[0].predefined_metric_type == "ASGAverageCPUUtilization" && aws_autoscaling_policy.cpu[0].target_tracking_configuration[0].target_value == 60
    error_message = "Target tracking on average CPU at 60 %."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.p99_latency[0].metric_name == "TargetResponseTime" && aws_cloudwatch_metric_alarm.p99_latency[0].extended_statistic == "p99" && aws_cloudwatch_metric_alarm.unhealthy_hosts[0].metric_name == "UnHealthyHostCount" && aws_cloudwatch_metric_alarm.elb_5xx[0].metric_name == "HTTPCode_ELB_5XX_Count" && aws_cloudwatch_metric_alarm.http_5xx_rate[0].threshold == 5
    error_message = "Alarms on 5xx count and rate, p99 latency and unhealthy hosts."
  }

  assert {
    condition     = aws_sns_topic.alarms[0].kms_master_key_id == var.kms_key_arn && aws_sns_topic_subscription.email[0].endpoint == "oncall@example.com"
    error_message = "The alarm topic is KMS-encrypted and mails the on-call address."
  }

  assert {
    condition     = length(aws_sns_topic_policy.alarms) == 0 && output.alarm_topic_arn == "arn:aws:sns:ap-southeast-1:123456789012:creditscore-test-scoring-alarms" && !strcontains(base64decode(aws_launch_template.this.user_data), "prometheus")
    error_message = "Without monitoring the alarm topic keeps SNS's default policy and the hosts run no collector; its ARN is known at plan time."
  }

  assert {
    condition     = strcontains(base64decode(aws_launch_template.this.user_data), "CREDITSCORE_ALLOW_DEGRADED=true\n")
    error_message = "extra_settings reach /etc/creditscore.env."
  }

  assert {
    condition     = length(base64decode(aws_launch_template.this.user_data)) <= 16384
    error_message = "The user data fits EC2's 16 KB."
  }
}

# Monitoring on (modules/monitoring's remote_write): the collector on every host, its permissions, and the
# alarm topic's policy for the workspace's alert manager.
run "asg_plan_with_collector" {
  command = plan

  variables {
    mode            = "asg"
    allowed_cidrs   = ["0.0.0.0/0"]
    certificate_arn = "arn:aws:acm:ap-southeast-1:123456789012:certificate/11111111-2222-3333-4444-555555555555"
    amp_remote_write = {
      workspace_arn = "arn:aws:aps:ap-southeast-1:123456789012:workspace/ws-11111111-2222-3333-4444-555555555555"
      url           = "https://aps-workspaces.ap-southeast-1.amazonaws.com/workspaces/ws-11111111-2222-3333-4444-555555555555/api/v1/remote_write"
    }
  }

  assert {
    condition = alltrue([
      for needle in [
        "\"https://github.com/prometheus/prometheus/releases/download/v3.4.1/prometheus-3.4.1.linux-amd64.tar.gz\"",
        "sha256sum --check --strict <<SUMS\n09203151c132f36b004615de1a3dea22117ad17e6d7a59962e34f3abf328f312  $TMP/prometheus.tar.gz\nSUMS\ntar -xzf",
        "install -m 0755 -o root -g root \"$TMP/prometheus\" /usr/local/bin/prometheus",
      ] : strcontains(base64decode(aws_launch_template.this.user_data), needle)
    ])
    error_message = "The collector is the pinned Prometheus release, checked against its sha256 before anything from it is installed."
  }

  assert {
    condition = alltrue([
      for needle in [
        "--name \"/creditscore-test/metrics-key\" --with-decryption",
        "grep -Eq \"^[[:space:]]*$HASH:metrics(:|[[:space:]]*\\$)\"",
        "install -m 0400 -o prometheus -g prometheus /dev/stdin /etc/prometheus/metrics-key",
        "      type: Bearer\n      credentials_file: /etc/prometheus/metrics-key\n",
      ] : strcontains(base64decode(aws_launch_template.this.user_data), needle)
    ])
    error_message = "The scrape key comes from its own parameter, must be a metrics-only key, and is readable by the collector's user only."
  }

  assert {
    condition = alltrue([
      for needle in [
        "  - job_name: creditscore\n    scrape_interval: 15s\n",
        "      - targets: [\"127.0.0.1:$PORT\"]\n        labels:\n          instance: $INSTANCE_ID\n",
        "  external_labels:\n    environment: test\n    instance_id: $INSTANCE_ID\n",
        "remote_write:\n  - url: https://aps-workspaces.ap-southeast-1.amazonaws.com/workspaces/ws-11111111-2222-3333-4444-555555555555/api/v1/remote_write\n    sigv4:\n      region: $REGION\n",
        "ExecStart=/usr/local/bin/prometheus --agent ",
        "User=prometheus\nGroup=prometheus\n",
        "Restart=on-failure\n",
        "/usr/local/sbin/creditscore-collector-setup || echo",
      ] : strcontains(base64decode(aws_launch_template.this.user_data), needle)
    ])
    error_message = "A Prometheus agent under systemd, as its own user, scrapes the service on localhost every 15 s (one target per host, labelled with the instance ID) and remote-writes to the workspace with SigV4; its failure never stops the bootstrap."
  }

  assert {
    condition     = length(base64decode(aws_launch_template.this.user_data)) <= 16384
    error_message = "The user data with the collector still fits EC2's 16 KB."
  }

  assert {
    condition     = one([for st in data.aws_iam_policy_document.instance.statement : st if st.sid == "RemoteWriteMetrics"]).actions == toset(["aps:RemoteWrite"]) && one([for st in data.aws_iam_policy_document.instance.statement : st if st.sid == "RemoteWriteMetrics"]).resources == toset([var.amp_remote_write.workspace_arn])
    error_message = "The hosts may remote-write to exactly the workspace."
  }

  assert {
    condition     = length([for st in data.aws_iam_policy_document.instance.statement : st if anytrue([for a in st.actions : startswith(a, "aps:")])]) == 1 && !strcontains(aws_iam_role_policy.instance.policy, "\"aps:*\"")
    error_message = "No other Managed Prometheus permission."
  }

  assert {
    condition     = one([for st in data.aws_iam_policy_document.instance.statement : st if st.sid == "MetricsKeyParameter"]).resources == toset(["arn:aws:ssm:ap-southeast-1:123456789012:parameter/creditscore-test/metrics-key"]) && one([for st in data.aws_iam_policy_document.instance.statement : st if st.sid == "MetricsKeyParameter"]).actions == toset(["ssm:GetParameter"])
    error_message = "The hosts may read the metrics-key parameter with ssm:GetParameter."
  }

  assert {
    condition     = one([for st in data.aws_iam_policy_document.instance.statement : st if st.sid == "NoOtherParameters"]).not_resources == toset(["arn:aws:ssm:ap-southeast-1:123456789012:parameter/creditscore-test/api-keys", "arn:aws:ssm:ap-southeast-1:123456789012:parameter/creditscore-test/pseudonym-key", "arn:aws:ssm:ap-southeast-1:123456789012:parameter/creditscore-test/metrics-key"])
    error_message = "Every parameter but the three is denied."
  }

  assert {
    condition = (
      length(aws_sns_topic_policy.alarms) == 1 &&
      one(one([for st in data.aws_iam_policy_document.alarm_topic[0].statement : st if st.sid == "ManagedPrometheusAlertManagerPublish"]).principals).identifiers == toset(["aps.amazonaws.com"]) &&
      one([for st in data.aws_iam_policy_document.alarm_topic[0].statement : st if st.sid == "ManagedPrometheusAlertManagerPublish"]).actions == toset(["sns:Publish", "sns:GetTopicAttributes"]) &&
      { for c in one([for st in data.aws_iam_policy_document.alarm_topic[0].statement : st if st.sid == "ManagedPrometheusAlertManagerPublish"]).condition : "${c.test} ${c.variable}" => c.values } == {
        "StringEquals aws:SourceAccount" = tolist(["123456789012"])
        "ArnEquals aws:SourceArn"        = tolist([var.amp_remote_write.workspace_arn])
      }
    )
    error_message = "The alarm topic lets Managed Prometheus publish only for this account's workspace (aws:SourceAccount, aws:SourceArn)."
  }

  assert {
    condition = (
      one(one([for st in data.aws_iam_policy_document.alarm_topic[0].statement : st if st.sid == "CloudWatchAlarmsPublish"]).principals).identifiers == toset(["cloudwatch.amazonaws.com"]) &&
      { for c in one([for st in data.aws_iam_policy_document.alarm_topic[0].statement : st if st.sid == "CloudWatchAlarmsPublish"]).condition : "${c.test} ${c.variable}" => c.values } == {
        "StringEquals aws:SourceAccount" = tolist(["123456789012"])
        "ArnLike aws:SourceArn"          = tolist(["arn:aws:cloudwatch:ap-southeast-1:123456789012:alarm:*"])
      } &&
      length(data.aws_iam_policy_document.alarm_topic[0].statement) == 2
    )
    error_message = "The topic's own policy keeps this account's CloudWatch alarms publishing, and admits no one else."
  }

  assert {
    condition     = output.metrics_key_parameter_name == "/creditscore-test/metrics-key" && output.metrics_collector.prometheus_version == "3.4.1"
    error_message = "The outputs name the metrics-key parameter and the collector."
  }
}

run "remote_write_url_must_name_the_workspace" {
  command = plan

  variables {
    amp_remote_write = {
      workspace_arn = "arn:aws:aps:ap-southeast-1:123456789012:workspace/ws-11111111-2222-3333-4444-555555555555"
      url           = "https://aps-workspaces.ap-southeast-1.amazonaws.com/workspaces/ws-99999999-2222-3333-4444-555555555555/api/v1/remote_write"
    }
  }

  expect_failures = [aws_launch_template.this]
}

run "single_refuses_world" {
  command = plan

  variables {
    mode          = "single"
    allowed_cidrs = ["0.0.0.0/0"]
  }

  expect_failures = [aws_security_group.service]
}

run "asg_requires_certificate" {
  command = plan

  variables {
    mode = "asg"
  }

  expect_failures = [aws_lb_listener.https]
}

run "prefix_must_match_project_and_environment" {
  command = plan

  variables {
    environment = "prod"
  }

  expect_failures = [aws_launch_template.this]
}

run "rejects_bad_inputs" {
  command = plan

  variables {
    mode                         = "blue-green"
    allowed_cidrs                = ["everywhere"]
    name_prefix                  = "Creditscore_Test"
    release_requirements_key     = "/releases/requirements.txt"
    release_sha256               = "not-a-hash"
    pseudonym_key_parameter_name = "pseudonym-key"
    extra_settings               = { CREDITSCORE_PSEUDONYM_KEY = "0123456789abcdef0123456789abcdef" }
    health_check_grace_period    = -1
    liveness_failure_threshold   = 1
    amp_remote_write             = { workspace_arn = "ws-1", url = "http://example.com/api/v1/remote_write" }
    prometheus_sha256            = "not-a-hash"
    metrics_key_parameter_name   = "metrics-key"
  }

  expect_failures = [var.mode, var.allowed_cidrs, var.name_prefix, var.release_requirements_key, var.release_sha256, var.pseudonym_key_parameter_name, var.extra_settings, var.health_check_grace_period, var.liveness_failure_threshold, var.amp_remote_write, var.prometheus_sha256, var.metrics_key_parameter_name]
}

run "setup" {
  module {
    source = "./tests/setup"
  }
}

run "single_apply" {
  command = apply

  variables {
    mode              = "single"
    vpc_id            = run.setup.vpc_id
    public_subnet_ids = run.setup.subnet_ids
    ami_id            = run.setup.ami_id
    allowed_cidrs     = ["203.0.113.0/24"]
  }

  assert {
    condition     = startswith(output.api_url, "http://") && endswith(output.api_url, ":8080")
    error_message = "single mode serves http://<host>:8080."
  }

  assert {
    condition     = output.instance_id != null && output.asg_name == null && output.alb_dns_name == null && output.alarm_topic_arn == null && output.alb_security_group_id == null
    error_message = "single mode outputs an instance and nulls for the asg resources."
  }

  # The subnet comes from the launch template's network interface (asserted in single_plan); moto's
  # RunInstances ignores it and picks a default subnet, so it is not asserted here.
  assert {
    condition     = aws_instance.this[0].launch_template[0].id == aws_launch_template.this.id
    error_message = "The instance is launched from the module's launch template."
  }
}

run "asg_apply" {
  command = apply
  # A state of its own: moto's CreateLaunchTemplateVersion keeps user data in a form its Auto Scaling
  # cannot read, so the group must start from version 1 of the launch template.
  state_key = "asg"

  variables {
    name_prefix             = "creditscore-asgtest"
    environment             = "asgtest"
    mode                    = "asg"
    vpc_id                  = run.setup.vpc_id
    public_subnet_ids       = run.setup.subnet_ids
    private_subnet_ids      = run.setup.subnet_ids
    ami_id                  = run.setup.ami_id
    allowed_cidrs           = ["0.0.0.0/0"]
    certificate_arn         = run.setup.certificate_arn
    alb_deletion_protection = false
    min_size                = 1
    desired_capacity        = 1
    max_size                = 2
  }

  assert {
    condition     = startswith(output.api_url, "https://") && output.alb_dns_name != null && output.asg_name == "creditscore-asgtest-scoring" && output.instance_id == null && output.alarm_topic_arn != null
    error_message = "asg mode serves https://<alb> and outputs the ASG, ALB and topic."
  }

  assert {
    condition     = aws_autoscaling_group.this[0].health_check_type == "EC2" && aws_lb_target_group.this[0].health_check[0].path == "/ready"
    error_message = "Applied: the group replaces hosts on EC2 health (and the watchdog), the target group routes on /ready."
  }
}
