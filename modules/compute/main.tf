data "aws_region" "current" {}
data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}

locals {
  single = var.mode == "single"
  asg    = var.mode == "asg"

  region     = data.aws_region.current.name
  partition  = data.aws_partition.current.partition
  account_id = data.aws_caller_identity.current.account_id

  # ALB and target-group names are limited to 32 characters.
  short_prefix = trimsuffix(substr(var.name_prefix, 0, 28), "-")

  customers_table     = element(split("/", var.customers_table_arn), 1)
  score_history_table = element(split("/", var.score_history_table_arn), 1)

  api_keys_parameter_name      = coalesce(var.api_keys_parameter_name, "/${var.name_prefix}/api-keys")
  api_keys_parameter_arn       = "arn:${local.partition}:ssm:${local.region}:${local.account_id}:parameter${local.api_keys_parameter_name}"
  pseudonym_key_parameter_name = coalesce(var.pseudonym_key_parameter_name, "/${var.name_prefix}/pseudonym-key")
  pseudonym_key_parameter_arn  = "arn:${local.partition}:ssm:${local.region}:${local.account_id}:parameter${local.pseudonym_key_parameter_name}"

  # Monitoring: a metrics collector on each host when a workspace to remote-write to is given.
  collector                  = var.amp_remote_write != null
  metrics_key_parameter_name = coalesce(var.metrics_key_parameter_name, "/${var.name_prefix}/metrics-key")
  metrics_key_parameter_arn  = "arn:${local.partition}:ssm:${local.region}:${local.account_id}:parameter${local.metrics_key_parameter_name}"
  readable_parameter_arns    = concat([local.api_keys_parameter_arn, local.pseudonym_key_parameter_arn], local.collector ? [local.metrics_key_parameter_arn] : [])
  prometheus_download_url    = coalesce(var.prometheus_download_url, "https://github.com/prometheus/prometheus/releases/download/v${var.prometheus_version}/prometheus-${var.prometheus_version}.linux-amd64.tar.gz")
  amp_workspace_arn          = local.collector ? var.amp_remote_write.workspace_arn : null
  amp_workspace_id_from_arn  = local.collector ? element(split("/", var.amp_remote_write.workspace_arn), 1) : null

  # The alarm topic's ARN, built from its name so that it is known at plan time (modules/monitoring counts
  # its alert manager definition on it).
  alarm_topic_name = "${var.name_prefix}-scoring-alarms"
  alarm_topic_arn  = "arn:${local.partition}:sns:${local.region}:${local.account_id}:${local.alarm_topic_name}"

  # The group's ARN, built from its name so that the hosts' policy is known at plan time.
  asg_name         = "${var.name_prefix}-scoring"
  asg_arn          = "arn:${local.partition}:autoscaling:${local.region}:${local.account_id}:autoScalingGroup:*:autoScalingGroupName/${local.asg_name}"
  launch_hook_name = "service-started"

  # What the hosts read of the artifacts bucket: the release's and its requirements' prefixes (or the keys
  # themselves when at the top), so that a new release needs no policy change before the hosts boot.
  release_objects = distinct([
    for key in [var.release_key, var.release_requirements_key] :
    dirname(key) == "." ? "${var.artifacts_bucket_arn}/${key}" : "${var.artifacts_bucket_arn}/${dirname(key)}/*"
  ])

  log_group_name = "/${var.name_prefix}/scoring-service"
  # Built rather than read from the log group so that the policy is known at plan time.
  log_group_arn = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.log_group_name}"

  settings = merge(
    {
      CREDITSCORE_PROJECT             = var.project
      CREDITSCORE_ENV                 = var.environment
      CREDITSCORE_AWS_ENDPOINT_URL    = ""
      CREDITSCORE_AWS_REGION          = local.region
      CREDITSCORE_MODELS_BUCKET       = var.models_bucket
      CREDITSCORE_CUSTOMERS_TABLE     = local.customers_table
      CREDITSCORE_SCORE_HISTORY_TABLE = local.score_history_table
      CREDITSCORE_HOST                = "0.0.0.0"
      CREDITSCORE_PORT                = tostring(var.service_port)
      CREDITSCORE_WORKERS             = "0"
      CREDITSCORE_LOG_FORMAT          = "json"
      CREDITSCORE_SHUTDOWN_SECONDS    = tostring(var.shutdown_seconds)
    },
    var.extra_settings,
  )

  cloudwatch_agent_config = jsonencode({
    agent = { run_as_user = "root" }
    logs = {
      logs_collected = {
        files = {
          collect_list = [
            {
              file_path         = "/var/log/creditscore/service.log"
              log_group_name    = local.log_group_name
              log_stream_name   = "{instance_id}/service"
              retention_in_days = -1
            },
            {
              file_path         = "/var/log/creditscore-bootstrap.log"
              log_group_name    = local.log_group_name
              log_stream_name   = "{instance_id}/bootstrap"
              retention_in_days = -1
            },
            {
              file_path         = "/var/log/creditscore-liveness.log"
              log_group_name    = local.log_group_name
              log_stream_name   = "{instance_id}/liveness"
              retention_in_days = -1
            },
          ]
        }
      }
    }
    metrics = {
      namespace = "CWAgent"
      append_dimensions = {
        InstanceId           = "$${aws:InstanceId}"
        AutoScalingGroupName = "$${aws:AutoScalingGroupName}"
      }
      metrics_collected = {
        mem  = { measurement = ["mem_used_percent"] }
        disk = { measurement = ["used_percent"], resources = ["/"] }
      }
    }
  })

  user_data = templatefile("${path.module}/user_data.sh.tftpl", {
    region                       = local.region
    mode                         = var.mode
    artifacts_bucket             = var.artifacts_bucket
    release_key                  = var.release_key
    release_file                 = basename(var.release_key)
    release_sha256               = var.release_sha256
    distribution                 = regex("^([A-Za-z0-9_.]+)-", basename(var.release_key))[0]
    requirements_key             = var.release_requirements_key
    requirements_sha256          = var.release_requirements_sha256
    torch_index_url              = var.torch_index_url
    api_keys_parameter_name      = local.api_keys_parameter_name
    pseudonym_key_parameter_name = local.pseudonym_key_parameter_name
    settings                     = local.settings
    service_port                 = var.service_port
    stop_timeout_seconds         = var.shutdown_seconds + 15
    log_group_name               = local.log_group_name
    cloudwatch_agent_config      = local.cloudwatch_agent_config
    liveness_interval_seconds    = var.liveness_interval_seconds
    liveness_failure_threshold   = var.liveness_failure_threshold
    liveness_startup_seconds     = var.liveness_startup_seconds
    asg_name                     = local.asg ? local.asg_name : ""
    launch_hook_name             = local.asg ? local.launch_hook_name : null
    launch_timeout_seconds       = var.launch_timeout_seconds
    collector                    = local.collector
    environment                  = var.environment
    prometheus_version           = var.prometheus_version
    prometheus_url               = local.prometheus_download_url
    prometheus_sha256            = var.prometheus_sha256
    metrics_key_parameter_name   = local.metrics_key_parameter_name
    remote_write_url             = local.collector ? var.amp_remote_write.url : ""
  })

  world = ["0.0.0.0/0"]
}

################################################################################
# Security groups (no SSH anywhere: shell access is through Session Manager)
################################################################################

resource "aws_security_group" "service" {
  name        = "${var.name_prefix}-scoring-service"
  description = "creditscore scoring hosts: the service port from the ALB (asg) or allowed CIDRs (single); HTTPS out"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name_prefix}-scoring-service" })

  lifecycle {
    create_before_destroy = true

    precondition {
      condition     = !(local.single && length(setintersection(var.allowed_cidrs, local.world)) > 0)
      error_message = "In single mode allowed_cidrs opens the plain-HTTP service port itself; 0.0.0.0/0 is only accepted for the ALB listener of asg mode."
    }
  }
}

resource "aws_vpc_security_group_ingress_rule" "service_from_alb" {
  count = local.asg ? 1 : 0

  security_group_id            = aws_security_group.service.id
  description                  = "Service port from the ALB"
  ip_protocol                  = "tcp"
  from_port                    = var.service_port
  to_port                      = var.service_port
  referenced_security_group_id = aws_security_group.alb[0].id
  tags                         = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "service_from_cidrs" {
  for_each = local.single ? toset(var.allowed_cidrs) : toset([])

  security_group_id = aws_security_group.service.id
  description       = "Service port from an allowed network"
  ip_protocol       = "tcp"
  from_port         = var.service_port
  to_port           = var.service_port
  cidr_ipv4         = each.value
  tags              = var.tags
}

resource "aws_vpc_security_group_egress_rule" "service_https" {
  security_group_id = aws_security_group.service.id
  description       = "HTTPS to AWS APIs (S3, DynamoDB, SSM, CloudWatch, Managed Prometheus) and package downloads, through the IGW or NAT"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
  tags              = var.tags
}

resource "aws_security_group" "alb" {
  count = local.asg ? 1 : 0

  name        = "${var.name_prefix}-scoring-alb"
  description = "creditscore scoring ALB: HTTPS and HTTP (redirect) from allowed CIDRs; the service port to the hosts"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name_prefix}-scoring-alb" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "alb_https" {
  for_each = local.asg ? toset(var.allowed_cidrs) : toset([])

  security_group_id = aws_security_group.alb[0].id
  description       = "HTTPS listener"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = each.value
  tags              = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "alb_http" {
  for_each = local.asg ? toset(var.allowed_cidrs) : toset([])

  security_group_id = aws_security_group.alb[0].id
  description       = "HTTP listener, which only redirects to HTTPS"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
  cidr_ipv4         = each.value
  tags              = var.tags
}

resource "aws_vpc_security_group_egress_rule" "alb_to_service" {
  count = local.asg ? 1 : 0

  security_group_id            = aws_security_group.alb[0].id
  description                  = "Service port (traffic and health checks) to the scoring hosts"
  ip_protocol                  = "tcp"
  from_port                    = var.service_port
  to_port                      = var.service_port
  referenced_security_group_id = aws_security_group.service.id
  tags                         = var.tags
}

################################################################################
# Instance role
################################################################################

data "aws_iam_policy_document" "assume_ec2" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "instance" {
  name                 = "${var.name_prefix}-scoring-instance"
  description          = "creditscore scoring hosts: read the release and models, read/write the customer tables, Session Manager"
  assume_role_policy   = data.aws_iam_policy_document.assume_ec2.json
  max_session_duration = 3600
  tags                 = var.tags
}

data "aws_iam_policy_document" "instance" {
  statement {
    sid       = "ListModelsBucket"
    actions   = ["s3:ListBucket"]
    resources = [var.models_bucket_arn]
  }

  statement {
    sid       = "ReadModels"
    actions   = ["s3:GetObject"]
    resources = ["${var.models_bucket_arn}/*"]
  }

  statement {
    sid       = "ReadRelease"
    actions   = ["s3:GetObject"]
    resources = local.release_objects
  }

  # A host never writes the code it or its peers install, whatever else is attached to the role later.
  statement {
    sid       = "ArtifactsAreReadOnly"
    effect    = "Deny"
    actions   = ["s3:Put*", "s3:Delete*", "s3:Replicate*", "s3:RestoreObject", "s3:AbortMultipartUpload"]
    resources = [var.artifacts_bucket_arn, "${var.artifacts_bucket_arn}/*"]
  }

  statement {
    sid = "CustomerTables"
    actions = [
      "dynamodb:ConditionCheckItem",
      "dynamodb:DescribeTable",
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:Query",
      "dynamodb:UpdateItem",
    ]
    resources = [
      var.customers_table_arn,
      "${var.customers_table_arn}/index/*",
      var.score_history_table_arn,
    ]
  }

  # TransactWriteItems is authorised per item by the actions above; the call itself is listed too.
  statement {
    sid       = "CustomerTablesTransactions"
    actions   = ["dynamodb:TransactWriteItems"]
    resources = [var.customers_table_arn, var.score_history_table_arn]
  }

  statement {
    sid       = "DataKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = distinct(compact([var.kms_key_arn, var.api_keys_kms_key_arn, var.pseudonym_key_kms_key_arn, local.collector ? var.metrics_key_kms_key_arn : null]))
  }

  statement {
    sid       = "ApiKeysParameter"
    actions   = ["ssm:GetParameter"]
    resources = [local.api_keys_parameter_arn]
  }

  statement {
    sid       = "PseudonymKeyParameter"
    actions   = ["ssm:GetParameter"]
    resources = [local.pseudonym_key_parameter_arn]
  }

  # The metrics collector's scrape key (a key of the metrics scope), only when the collector runs.
  dynamic "statement" {
    for_each = local.collector ? [1] : []

    content {
      sid       = "MetricsKeyParameter"
      actions   = ["ssm:GetParameter"]
      resources = [local.metrics_key_parameter_arn]
    }
  }

  # The collector remote-writes to the one workspace, and may do nothing else in Managed Prometheus.
  dynamic "statement" {
    for_each = local.collector ? [1] : []

    content {
      sid       = "RemoteWriteMetrics"
      actions   = ["aps:RemoteWrite"]
      resources = [local.amp_workspace_arn]
    }
  }

  # AmazonSSMManagedInstanceCore (Session Manager) also grants ssm:GetParameter(s) on "*": without this, a
  # host could read every parameter of the account, SecureStrings under the aws/ssm key included.
  statement {
    sid           = "NoOtherParameters"
    effect        = "Deny"
    actions       = ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath", "ssm:GetParameterHistory"]
    not_resources = local.readable_parameter_arns
  }

  # asg mode: the liveness watchdog marks its own host Unhealthy, and the bootstrap completes the launch
  # lifecycle action; both on this group only.
  dynamic "statement" {
    for_each = local.asg ? [1] : []

    content {
      sid       = "OwnGroupInstanceHealth"
      actions   = ["autoscaling:SetInstanceHealth"]
      resources = [local.asg_arn]
    }
  }

  dynamic "statement" {
    for_each = local.asg ? [1] : []

    content {
      sid       = "OwnGroupLaunchHook"
      actions   = ["autoscaling:CompleteLifecycleAction"]
      resources = [local.asg_arn]
    }
  }

  statement {
    sid       = "ServiceLogs"
    actions   = ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"]
    resources = [local.log_group_arn, "${local.log_group_arn}:log-stream:*"]
  }

  statement {
    sid       = "AgentMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = ["CWAgent"]
    }
  }

  statement {
    sid       = "AgentDimensions"
    actions   = ["ec2:DescribeTags"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "instance" {
  name   = "scoring-service"
  role   = aws_iam_role.instance.id
  policy = data.aws_iam_policy_document.instance.json
}

resource "aws_iam_role_policy_attachment" "ssm_core" {
  role       = aws_iam_role.instance.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

resource "aws_iam_instance_profile" "this" {
  name = "${var.name_prefix}-scoring-instance"
  role = aws_iam_role.instance.name
  tags = var.tags
}

resource "aws_cloudwatch_log_group" "service" {
  name              = local.log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

################################################################################
# Launch template (both modes)
################################################################################

resource "aws_launch_template" "this" {
  #checkov:skip=CKV_AWS_88:Only single mode (dev, which has no NAT) gives its one host a public IP, and its security group opens only the service port to allowed_cidrs; asg mode sets associate_public_ip_address = false.
  name                   = "${var.name_prefix}-scoring"
  description            = "creditscore scoring host (${var.mode} mode)"
  image_id               = var.ami_id
  instance_type          = var.instance_type
  ebs_optimized          = true
  update_default_version = true
  user_data              = base64encode(local.user_data)

  iam_instance_profile {
    arn = aws_iam_instance_profile.this.arn
  }

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
    instance_metadata_tags      = "disabled"
  }

  monitoring {
    enabled = var.detailed_monitoring
  }

  network_interfaces {
    device_index                = 0
    associate_public_ip_address = local.single
    subnet_id                   = local.single ? var.public_subnet_ids[0] : null
    security_groups             = [aws_security_group.service.id]
    delete_on_termination       = true
  }

  block_device_mappings {
    device_name = var.root_device_name

    ebs {
      volume_type           = "gp3"
      volume_size           = var.root_volume_size
      encrypted             = true
      kms_key_id            = var.kms_key_arn
      delete_on_termination = true
    }
  }

  tag_specifications {
    resource_type = "instance"
    tags          = merge(var.tags, { Name = "${var.name_prefix}-scoring" })
  }

  tag_specifications {
    resource_type = "volume"
    tags          = merge(var.tags, { Name = "${var.name_prefix}-scoring" })
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition     = var.name_prefix == "${var.project}-${var.environment}"
      error_message = "name_prefix must equal \"{project}-{environment}\" so that the hosts' CREDITSCORE_PROJECT/ENV name the same resources."
    }

    precondition {
      condition     = length(local.user_data) <= 16384
      error_message = "The rendered user data is ${length(local.user_data)} bytes; EC2 accepts at most 16384 (before base64)."
    }

    precondition {
      condition     = !local.collector || strcontains(try(var.amp_remote_write.url, ""), "/workspaces/${coalesce(local.amp_workspace_id_from_arn, "-")}/")
      error_message = "amp_remote_write.url must be the remote-write URL of the workspace amp_remote_write.workspace_arn names (modules/monitoring `remote_write`)."
    }
  }
}

################################################################################
# single mode: one instance in the first public subnet
################################################################################

resource "aws_instance" "this" {
  count = local.single ? 1 : 0

  # Network interface (first public subnet, public IP, service SG), volumes and user data come from the
  # launch template; the security-relevant settings are repeated so that they hold and are checkable here.
  launch_template {
    id      = aws_launch_template.this.id
    version = aws_launch_template.this.latest_version
  }

  iam_instance_profile = aws_iam_instance_profile.this.name
  ebs_optimized        = true
  monitoring           = var.detailed_monitoring

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  root_block_device {
    volume_type           = "gp3"
    volume_size           = var.root_volume_size
    encrypted             = true
    kms_key_id            = var.kms_key_arn
    delete_on_termination = true
  }

  tags        = merge(var.tags, { Name = "${var.name_prefix}-scoring" })
  volume_tags = merge(var.tags, { Name = "${var.name_prefix}-scoring" })
}

################################################################################
# asg mode: ALB (HTTPS) -> target group -> Auto Scaling group in private subnets
################################################################################

resource "aws_lb" "this" {
  #checkov:skip=CKV_AWS_91:Access logs are optional by design: enabled whenever the environment passes access_logs_bucket (a bucket whose policy admits ELB log delivery).
  #checkov:skip=CKV2_AWS_28:A WAF web ACL is optional by design: associated whenever the environment passes web_acl_arn; every API route but health, readiness and metrics needs an API key.
  #checkov:skip=CKV2_AWS_76:False positive, reproduced in modules/compute/README.md (Checkov): this graph check passes an ALB with no web ACL association at all, but fails one associated (here only when web_acl_arn is given) with a web ACL defined outside the scanned code, whose managed rule groups (AWSManagedRulesKnownBadInputsRuleSet for Log4j) it cannot see. The ACL and its rules are the caller's.
  count = local.asg ? 1 : 0

  name                       = "${local.short_prefix}-alb"
  internal                   = false
  load_balancer_type         = "application"
  security_groups            = [aws_security_group.alb[0].id]
  subnets                    = var.public_subnet_ids
  drop_invalid_header_fields = true
  enable_deletion_protection = var.alb_deletion_protection
  idle_timeout               = var.alb_idle_timeout
  tags                       = merge(var.tags, { Name = "${var.name_prefix}-scoring-alb" })

  access_logs {
    enabled = var.access_logs_bucket != null
    bucket  = var.access_logs_bucket != null ? var.access_logs_bucket : ""
    prefix  = coalesce(var.access_logs_prefix, var.name_prefix)
  }

  lifecycle {
    precondition {
      condition     = length(var.public_subnet_ids) >= 2
      error_message = "asg mode needs at least two public subnets (in different availability zones) for the ALB."
    }
  }
}

resource "aws_wafv2_web_acl_association" "this" {
  count = local.asg && var.web_acl_arn != null ? 1 : 0

  resource_arn = aws_lb.this[0].arn
  web_acl_arn  = var.web_acl_arn
}

resource "aws_lb_target_group" "this" {
  #checkov:skip=CKV_AWS_378:TLS terminates at the ALB (HTTPS listener, TLS 1.2+ policy); the hop to the hosts stays inside the VPC on the service port, which the hosts' security group opens to the ALB only.
  count = local.asg ? 1 : 0

  name                 = "${local.short_prefix}-tg"
  port                 = var.service_port
  protocol             = "HTTP"
  vpc_id               = var.vpc_id
  target_type          = "instance"
  deregistration_delay = var.shutdown_seconds
  tags                 = var.tags

  # Readiness decides routing only (the Auto Scaling group does not use it: health_check_type "EC2"). A host
  # whose models are not loaded, or that cannot reach DynamoDB, gets no traffic; when no host is ready the
  # ALB routes to all of them (fail-open), and they answer 503 problem+json quickly.
  health_check {
    enabled             = true
    protocol            = "HTTP"
    port                = "traffic-port"
    path                = "/ready"
    matcher             = "200"
    interval            = 15
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }
}

resource "aws_lb_listener" "https" {
  count = local.asg ? 1 : 0

  load_balancer_arn = aws_lb.this[0].arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = var.ssl_policy
  certificate_arn   = var.certificate_arn
  tags              = var.tags

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.this[0].arn
  }

  lifecycle {
    precondition {
      condition     = var.certificate_arn != null
      error_message = "certificate_arn is required in asg mode (the ALB's HTTPS listener)."
    }
  }
}

resource "aws_lb_listener" "http_redirect" {
  count = local.asg ? 1 : 0

  load_balancer_arn = aws_lb.this[0].arn
  port              = 80
  protocol          = "HTTP"
  tags              = var.tags

  default_action {
    type = "redirect"

    redirect {
      port        = "443"
      protocol    = "HTTPS"
      status_code = "HTTP_301"
    }
  }
}

resource "aws_autoscaling_group" "this" {
  count = local.asg ? 1 : 0

  name                = local.asg_name
  vpc_zone_identifier = var.private_subnet_ids
  min_size            = var.min_size
  max_size            = var.max_size
  desired_capacity    = var.desired_capacity
  # Liveness and readiness stay apart. The group replaces a host only when the host itself is broken: EC2
  # status checks, and the host's liveness watchdog (GET /health, no I/O) marking it Unhealthy. Never "ELB":
  # the target group checks /ready, which fails on every host at once when DynamoDB or S3 is unavailable,
  # and the group would then replace the whole fleet. The target group only decides routing.
  health_check_type         = "EC2"
  health_check_grace_period = var.health_check_grace_period
  target_group_arns         = [aws_lb_target_group.this[0].arn]
  # The bootstrap holds each new host out of service until it answers (launch hook below); apply waits for
  # the first hosts that long.
  wait_for_capacity_timeout = "${var.launch_timeout_seconds + 120}s"
  default_instance_warmup   = var.instance_warmup_seconds
  enabled_metrics           = ["GroupDesiredCapacity", "GroupInServiceInstances", "GroupMaxSize", "GroupMinSize", "GroupPendingInstances", "GroupTerminatingInstances", "GroupTotalInstances"]

  launch_template {
    id      = aws_launch_template.this.id
    version = aws_launch_template.this.latest_version
  }

  # Every new host waits in Pending:Wait until its bootstrap reports: CONTINUE once the service answers
  # (after waiting a while for /ready), ABANDON (terminated, replaced) when the bootstrap fails or the
  # service never answers /health, ABANDON too when nothing reports within launch_timeout_seconds. Initial,
  # so that the group's first hosts wait too.
  initial_lifecycle_hook {
    name                 = local.launch_hook_name
    lifecycle_transition = "autoscaling:EC2_INSTANCE_LAUNCHING"
    heartbeat_timeout    = var.launch_timeout_seconds
    default_result       = "ABANDON"
  }

  # A new launch-template version (AMI, release, settings) replaces the hosts, launching before terminating:
  # a new host counts once it is InService (the launch hook: its service answers) and warmed up
  # (instance_warmup_seconds, for the target group to see /ready).
  instance_refresh {
    strategy = "Rolling"

    preferences {
      min_healthy_percentage = 100
      max_healthy_percentage = 200
    }
  }

  dynamic "tag" {
    for_each = merge(var.tags, { Name = "${var.name_prefix}-scoring" })

    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }

  lifecycle {
    # The scaling policy owns the running size.
    ignore_changes = [desired_capacity]

    precondition {
      condition     = length(var.private_subnet_ids) >= 1
      error_message = "asg mode needs private_subnet_ids."
    }

    precondition {
      condition     = var.min_size <= var.desired_capacity && var.desired_capacity <= var.max_size
      error_message = "min_size <= desired_capacity <= max_size must hold."
    }
  }
}

resource "aws_autoscaling_policy" "cpu" {
  count = local.asg ? 1 : 0

  name                   = "${var.name_prefix}-scoring-cpu"
  autoscaling_group_name = aws_autoscaling_group.this[0].name
  policy_type            = "TargetTrackingScaling"

  target_tracking_configuration {
    target_value = var.cpu_target_percent

    predefined_metric_specification {
      predefined_metric_type = "ASGAverageCPUUtilization"
    }
  }
}

################################################################################
# asg mode: alarms
################################################################################

resource "aws_sns_topic" "alarms" {
  count = local.asg ? 1 : 0

  name              = local.alarm_topic_name
  kms_master_key_id = var.kms_key_arn
  tags              = var.tags
}

# With monitoring on, the Managed Prometheus workspace's alert manager publishes here too. A topic has one
# policy, so it lives here with the topic and names every publisher: this account's CloudWatch alarms, and
# the alert manager of that one workspace (confused-deputy conditions on both). Without monitoring the topic
# keeps SNS's default policy. The topic's KMS key must admit both services (modules/data's key policy).
data "aws_iam_policy_document" "alarm_topic" {
  count = local.asg && local.collector ? 1 : 0

  statement {
    sid       = "CloudWatchAlarmsPublish"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alarms[0].arn]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:cloudwatch:${local.region}:${local.account_id}:alarm:*"]
    }
  }

  statement {
    sid       = "ManagedPrometheusAlertManagerPublish"
    actions   = ["sns:Publish", "sns:GetTopicAttributes"]
    resources = [aws_sns_topic.alarms[0].arn]

    principals {
      type        = "Service"
      identifiers = ["aps.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [local.amp_workspace_arn]
    }
  }
}

resource "aws_sns_topic_policy" "alarms" {
  count = local.asg && local.collector ? 1 : 0

  arn    = aws_sns_topic.alarms[0].arn
  policy = data.aws_iam_policy_document.alarm_topic[0].json
}

resource "aws_sns_topic_subscription" "email" {
  count = local.asg && var.alarm_email != null ? 1 : 0

  topic_arn = aws_sns_topic.alarms[0].arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

locals {
  alarm_actions = local.asg ? [aws_sns_topic.alarms[0].arn] : []
  alb_dimension = local.asg ? { LoadBalancer = aws_lb.this[0].arn_suffix } : {}
}

resource "aws_cloudwatch_metric_alarm" "elb_5xx" {
  count = local.asg ? 1 : 0

  alarm_name          = "${var.name_prefix}-scoring-elb-5xx"
  alarm_description   = "The ALB itself answered more than ${var.alarm_5xx_count_threshold} 5xx in 5 minutes (no healthy host, target connection errors)."
  namespace           = "AWS/ApplicationELB"
  metric_name         = "HTTPCode_ELB_5XX_Count"
  dimensions          = local.alb_dimension
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.alarm_5xx_count_threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "http_5xx_rate" {
  count = local.asg ? 1 : 0

  alarm_name          = "${var.name_prefix}-scoring-5xx-rate"
  alarm_description   = "More than ${var.alarm_5xx_rate_percent}% of requests got a 5xx (ALB or service) for 2 periods of 5 minutes."
  evaluation_periods  = 2
  threshold           = var.alarm_5xx_rate_percent
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags

  metric_query {
    id          = "rate"
    expression  = "IF(requests > 0, 100 * (elb5xx + target5xx) / requests, 0)"
    label       = "5xx percentage"
    return_data = true
  }

  metric_query {
    id = "requests"

    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "RequestCount"
      dimensions  = local.alb_dimension
      stat        = "Sum"
      period      = 300
    }
  }

  metric_query {
    id = "elb5xx"

    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "HTTPCode_ELB_5XX_Count"
      dimensions  = local.alb_dimension
      stat        = "Sum"
      period      = 300
    }
  }

  metric_query {
    id = "target5xx"

    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "HTTPCode_Target_5XX_Count"
      dimensions  = local.alb_dimension
      stat        = "Sum"
      period      = 300
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "p99_latency" {
  count = local.asg ? 1 : 0

  alarm_name          = "${var.name_prefix}-scoring-p99-latency"
  alarm_description   = "The service's p99 response time stayed above ${var.alarm_p99_latency_seconds} s for 3 minutes."
  namespace           = "AWS/ApplicationELB"
  metric_name         = "TargetResponseTime"
  dimensions          = merge(local.alb_dimension, { TargetGroup = aws_lb_target_group.this[0].arn_suffix })
  extended_statistic  = "p99"
  period              = 60
  evaluation_periods  = 3
  threshold           = var.alarm_p99_latency_seconds
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "unhealthy_hosts" {
  count = local.asg ? 1 : 0

  alarm_name          = "${var.name_prefix}-scoring-unhealthy-hosts"
  alarm_description   = "At least one scoring host failed the /ready health check for 3 minutes."
  namespace           = "AWS/ApplicationELB"
  metric_name         = "UnHealthyHostCount"
  dimensions          = merge(local.alb_dimension, { TargetGroup = aws_lb_target_group.this[0].arn_suffix })
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 3
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}
