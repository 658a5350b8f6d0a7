# Plan-level checks of the module, and one apply, against a local AWS endpoint (moto's server):
#
#   terraform init -backend=false
#   terraform test -var='aws_endpoint="http://127.0.0.1:4599"'
#
# aws_endpoint is declared by no module, so terraform test (1.11) parses its -var value as an HCL
# expression: the value must be quoted as above (unquoted, it becomes unknown and the provider fails),
# or come from a .tfvars file (-var-file) or TF_VAR_aws_endpoint='"http://..."'. It has no default here
# on purpose: a test file's `variables` block takes precedence over -var, so a default could never be
# overridden from the command line.

variables {
  name_prefix = "creditscore-test"
  tags = {
    Project     = "creditscore"
    Environment = "test"
  }
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
    s3         = var.aws_endpoint
    dynamodb   = var.aws_endpoint
    ec2        = var.aws_endpoint
    iam        = var.aws_endpoint
    kms        = var.aws_endpoint
    sts        = var.aws_endpoint
    logs       = var.aws_endpoint
    cloudwatch = var.aws_endpoint
  }
}

run "defaults" {
  command = plan

  assert {
    condition = (
      aws_s3_bucket.data["raw"].bucket == "creditscore-test-raw" &&
      aws_s3_bucket.data["cleaned"].bucket == "creditscore-test-cleaned" &&
      aws_s3_bucket.data["models"].bucket == "creditscore-test-models" &&
      aws_s3_bucket.data["artifacts"].bucket == "creditscore-test-artifacts" &&
      aws_s3_bucket.access_logs.bucket == "creditscore-test-access-logs"
    )
    error_message = "Bucket names must be the service's defaults, {name_prefix}-raw/-cleaned/-models, plus {name_prefix}-artifacts and {name_prefix}-access-logs."
  }

  assert {
    condition     = output.raw_bucket == "creditscore-test-raw" && output.cleaned_bucket == "creditscore-test-cleaned" && output.models_bucket == "creditscore-test-models" && output.artifacts_bucket == "creditscore-test-artifacts"
    error_message = "The bucket-name outputs must match the buckets."
  }

  assert {
    condition     = alltrue([for bucket in aws_s3_bucket.data : bucket.force_destroy == false]) && aws_s3_bucket.access_logs.force_destroy == false
    error_message = "Buckets must not be force-destroyable by default."
  }

  assert {
    condition     = alltrue([for bucket in aws_s3_bucket.data : bucket.tags["Project"] == "creditscore"]) && aws_s3_bucket.access_logs.tags["Environment"] == "test"
    error_message = "Buckets must carry the given tags."
  }

  assert {
    condition = alltrue([
      for block in concat(values(aws_s3_bucket_public_access_block.data), [aws_s3_bucket_public_access_block.access_logs]) :
      block.block_public_acls && block.block_public_policy && block.ignore_public_acls && block.restrict_public_buckets
    ])
    error_message = "Public access must be blocked on every bucket."
  }

  assert {
    condition = alltrue([
      for config in aws_s3_bucket_server_side_encryption_configuration.data : alltrue([
        for rule in config.rule : rule.bucket_key_enabled && alltrue([
          for default in rule.apply_server_side_encryption_by_default : default.sse_algorithm == "aws:kms"
        ])
      ])
    ])
    error_message = "The data buckets must use SSE-KMS with bucket keys."
  }

  assert {
    condition     = alltrue([for rule in aws_s3_bucket_server_side_encryption_configuration.access_logs.rule : alltrue([for default in rule.apply_server_side_encryption_by_default : default.sse_algorithm == "AES256"])])
    error_message = "The access-logs bucket must use SSE-S3 (the only encryption server access logging supports)."
  }

  assert {
    condition = alltrue([
      for versioning in concat(values(aws_s3_bucket_versioning.data), [aws_s3_bucket_versioning.access_logs]) :
      versioning.versioning_configuration[0].status == "Enabled"
    ])
    error_message = "Versioning must be enabled on every bucket."
  }

  assert {
    condition = alltrue([
      for controls in concat(values(aws_s3_bucket_ownership_controls.data), [aws_s3_bucket_ownership_controls.access_logs]) :
      controls.rule[0].object_ownership == "BucketOwnerEnforced"
    ])
    error_message = "ACLs must be disabled (BucketOwnerEnforced) on every bucket."
  }

  assert {
    condition = alltrue([
      for policy in concat(values(data.aws_iam_policy_document.data), [data.aws_iam_policy_document.access_logs]) :
      policy.statement[0].effect == "Deny" && policy.statement[0].actions == toset(["s3:*"]) &&
      one(policy.statement[0].condition).variable == "aws:SecureTransport" && one(policy.statement[0].condition).values == tolist(["false"])
    ])
    error_message = "Every bucket policy must deny requests without TLS."
  }

  assert {
    condition = length(data.aws_iam_policy_document.access_logs.statement) == 5 && alltrue([
      for statement in slice(data.aws_iam_policy_document.access_logs.statement, 1, 5) :
      statement.effect == "Allow" && statement.actions == toset(["s3:PutObject"]) &&
      one(statement.principals).identifiers == toset(["logging.s3.amazonaws.com"])
    ])
    error_message = "The access-logs bucket policy must let S3 server access logging deliver, for each data bucket, and nothing else."
  }

  assert {
    condition = alltrue([
      for key, logging in aws_s3_bucket_logging.data : logging.target_prefix == "creditscore-test-${key}/"
    ]) && length(aws_s3_bucket_logging.data) == 4
    error_message = "Every data bucket must log to the access-logs bucket under its own prefix."
  }

  assert {
    condition     = length([for rule in aws_s3_bucket_lifecycle_configuration.data["raw"].rule[0].transition : rule if rule.storage_class == "STANDARD_IA" && rule.days == 30]) == 1
    error_message = "Raw objects must move to STANDARD_IA after 30 days by default."
  }

  assert {
    condition     = length([for rule in aws_s3_bucket_lifecycle_configuration.data["raw"].rule[0].transition : rule if rule.storage_class == "GLACIER" && rule.days == 180]) == 1
    error_message = "Raw objects must move to GLACIER after 180 days by default."
  }

  assert {
    condition     = length(aws_s3_bucket_lifecycle_configuration.data["cleaned"].rule[0].transition) == 0 && length(aws_s3_bucket_lifecycle_configuration.data["models"].rule[0].transition) == 0 && length(aws_s3_bucket_lifecycle_configuration.data["artifacts"].rule[0].transition) == 0
    error_message = "Only raw data changes storage class."
  }

  assert {
    condition = alltrue([
      for config in concat(values(aws_s3_bucket_lifecycle_configuration.data), [aws_s3_bucket_lifecycle_configuration.access_logs]) :
      config.rule[0].noncurrent_version_expiration[0].noncurrent_days == 90 && config.rule[0].abort_incomplete_multipart_upload[0].days_after_initiation == 7
    ])
    error_message = "Every bucket must expire noncurrent versions after 90 days and abort incomplete uploads after 7."
  }

  assert {
    condition     = alltrue([for notification in aws_s3_bucket_notification.data : notification.eventbridge == true]) && contains(keys(aws_s3_bucket_notification.data), "raw")
    error_message = "The data buckets (raw above all) must send events to EventBridge."
  }

  assert {
    condition     = aws_kms_key.this.enable_key_rotation && aws_kms_key.this.deletion_window_in_days == 30 && aws_kms_alias.this.name == "alias/creditscore-test-data"
    error_message = "The KMS key must rotate, wait 30 days before deletion and be aliased alias/{name_prefix}-data."
  }

  assert {
    condition     = strcontains(aws_kms_key.this.policy, "logs.ap-southeast-1.amazonaws.com") && strcontains(aws_kms_key.this.policy, ":root")
    error_message = "The key policy must let the account administer the key and CloudWatch Logs use it."
  }

  assert {
    condition = (
      one([for st in jsondecode(aws_kms_key.this.policy).Statement : st if st.Sid == "ManagedPrometheusAlertsPublishToEncryptedTopics"]).Principal == { Service = "aps.amazonaws.com" } &&
      toset(one([for st in jsondecode(aws_kms_key.this.policy).Statement : st if st.Sid == "ManagedPrometheusAlertsPublishToEncryptedTopics"]).Action) == toset(["kms:Decrypt", "kms:GenerateDataKey*"]) &&
      one([for st in jsondecode(aws_kms_key.this.policy).Statement : st if st.Sid == "ManagedPrometheusAlertsPublishToEncryptedTopics"]).Condition.StringEquals["aws:SourceAccount"] == "123456789012" &&
      one([for st in jsondecode(aws_kms_key.this.policy).Statement : st if st.Sid == "ManagedPrometheusAlertsPublishToEncryptedTopics"]).Condition.ArnLike["aws:SourceArn"] == "arn:aws:aps:ap-southeast-1:123456789012:workspace/*"
    )
    error_message = "The key policy must let this account's Prometheus workspaces (their alert manager) encrypt to the alarm topic, and no other account's."
  }

  assert {
    condition     = aws_dynamodb_table.customers.name == "creditscore-test-customers" && aws_dynamodb_table.score_history.name == "creditscore-test-score-history"
    error_message = "Table names must be the service's defaults, {name_prefix}-customers and {name_prefix}-score-history."
  }

  assert {
    condition = (
      aws_dynamodb_table.customers.billing_mode == "PAY_PER_REQUEST" && aws_dynamodb_table.customers.hash_key == "national_id" &&
      aws_dynamodb_table.score_history.billing_mode == "PAY_PER_REQUEST" && aws_dynamodb_table.score_history.hash_key == "national_id" &&
      aws_dynamodb_table.score_history.range_key == "scored_at_request_id"
    )
    error_message = "Key schemas and billing must match creditscore/aws.py table_definitions."
  }


  assert {
    condition     = aws_dynamodb_table.customers.point_in_time_recovery[0].enabled && aws_dynamodb_table.score_history.point_in_time_recovery[0].enabled
    error_message = "Point-in-time recovery must be on for both tables."
  }

  assert {
    condition     = aws_dynamodb_table.score_history.ttl[0].enabled && aws_dynamodb_table.score_history.ttl[0].attribute_name == "expires_at"
    error_message = "The score-history table must expire the service's idempotency records on expires_at (creditscore/aws.py EXPIRES_AT)."
  }

  assert {
    condition     = aws_dynamodb_table.customers.server_side_encryption[0].enabled && aws_dynamodb_table.score_history.server_side_encryption[0].enabled
    error_message = "Both tables must be encrypted with the KMS key."
  }

  assert {
    condition     = aws_dynamodb_table.customers.deletion_protection_enabled && aws_dynamodb_table.score_history.deletion_protection_enabled
    error_message = "Deletion protection must be on by default."
  }
}

run "dev_settings" {
  command = plan

  variables {
    name_prefix                        = "creditscore-dev"
    force_destroy                      = true
    deletion_protection                = false
    raw_transition_days                = 45
    raw_glacier_days                   = 90
    noncurrent_version_expiration_days = 7
    kms_deletion_window_days           = 7
  }

  assert {
    condition     = alltrue([for bucket in aws_s3_bucket.data : bucket.force_destroy]) && aws_s3_bucket.access_logs.force_destroy
    error_message = "force_destroy must reach every bucket."
  }

  assert {
    condition     = !aws_dynamodb_table.customers.deletion_protection_enabled && !aws_dynamodb_table.score_history.deletion_protection_enabled
    error_message = "deletion_protection = false must turn deletion protection off on both tables."
  }

  assert {
    condition = (
      length([for rule in aws_s3_bucket_lifecycle_configuration.data["raw"].rule[0].transition : rule if rule.storage_class == "STANDARD_IA" && rule.days == 45]) == 1 &&
      length([for rule in aws_s3_bucket_lifecycle_configuration.data["raw"].rule[0].transition : rule if rule.storage_class == "GLACIER" && rule.days == 90]) == 1
    )
    error_message = "raw_transition_days and raw_glacier_days must set the raw transitions."
  }

  assert {
    condition     = aws_s3_bucket_lifecycle_configuration.data["models"].rule[0].noncurrent_version_expiration[0].noncurrent_days == 7
    error_message = "noncurrent_version_expiration_days must set the noncurrent expiry."
  }

  assert {
    condition     = aws_kms_key.this.deletion_window_in_days == 7
    error_message = "kms_deletion_window_days must set the key's deletion window."
  }

  assert {
    condition     = output.customers_table_name == "creditscore-dev-customers" && output.score_history_table_name == "creditscore-dev-score-history"
    error_message = "Table-name outputs must follow name_prefix."
  }
}

run "rejects_bad_inputs" {
  command = plan

  variables {
    name_prefix                        = "-bad"
    raw_transition_days                = 10
    raw_glacier_days                   = 20
    noncurrent_version_expiration_days = 0
    kms_deletion_window_days           = 31
  }

  expect_failures = [
    var.name_prefix,
    var.raw_transition_days,
    var.raw_glacier_days,
    var.noncurrent_version_expiration_days,
    var.kms_deletion_window_days,
  ]
}

run "rejects_glacier_too_soon_after_ia" {
  command = plan

  variables {
    raw_transition_days = 60
    raw_glacier_days    = 80
  }

  expect_failures = [
    aws_s3_bucket_lifecycle_configuration.data,
  ]
}

run "apply" {
  command = apply

  variables {
    name_prefix         = "creditscore-dataapply"
    force_destroy       = true
    deletion_protection = false
  }

  assert {
    condition     = output.raw_bucket == "creditscore-dataapply-raw" && startswith(output.raw_bucket_arn, "arn:aws:s3:::")
    error_message = "Apply must create the raw bucket."
  }

  assert {
    condition     = output.customers_table_name == "creditscore-dataapply-customers" && strcontains(output.customers_table_arn, ":table/creditscore-dataapply-customers")
    error_message = "Apply must create the customers table."
  }

  assert {
    condition = (
      length(aws_dynamodb_table.customers.global_secondary_index) == 2 &&
      alltrue([for index in aws_dynamodb_table.customers.global_secondary_index : index.projection_type == "ALL" && index.name == "${index.hash_key}-index"]) &&
      toset([for index in aws_dynamodb_table.customers.global_secondary_index : index.name]) == toset(["email-index", "phone_number-index"])
    )
    error_message = "The customers table must have email-index and phone_number-index, projecting ALL (plan cannot see the index set)."
  }

  assert {
    condition     = strcontains(output.score_history_table_arn, ":table/creditscore-dataapply-score-history")
    error_message = "Apply must create the score-history table."
  }

  assert {
    condition     = startswith(output.kms_key_arn, "arn:aws:kms:ap-southeast-1:") && aws_kms_key.this.enable_key_rotation
    error_message = "Apply must create the rotating KMS key."
  }

  assert {
    condition     = aws_dynamodb_table.customers.server_side_encryption[0].kms_key_arn == aws_kms_key.this.arn && aws_dynamodb_table.score_history.server_side_encryption[0].kms_key_arn == aws_kms_key.this.arn
    error_message = "Both tables must be encrypted with the module's key."
  }

  assert {
    condition = alltrue([
      for config in aws_s3_bucket_server_side_encryption_configuration.data : alltrue([
        for rule in config.rule : alltrue([
          for default in rule.apply_server_side_encryption_by_default : default.kms_master_key_id == aws_kms_key.this.arn
        ])
      ])
    ])
    error_message = "The data buckets must be encrypted with the module's key."
  }
}
