# Test fixture: the key and the (single) bucket the ml module uploads its code to, in moto's server: the
# module's artifacts bucket in the apply runs (its raw, cleaned and models buckets need not exist).
terraform {
  required_version = ">= 1.6"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }
}

variable "name_prefix" {
  description = "Prefix of the fixture names."
  type        = string
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

resource "aws_kms_key" "this" {
  description             = "${var.name_prefix} ml test fixture"
  enable_key_rotation     = true
  deletion_window_in_days = 7
  # The default key policy, written out: the account administers the key through IAM.
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "AccountAdministers"
      Effect    = "Allow"
      Principal = { AWS = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root" }
      Action    = "kms:*"
      Resource  = "*"
    }]
  })
}

resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_18:Test fixture in moto's in-memory S3, destroyed after the run; no access logs to keep.
  #checkov:skip=CKV_AWS_144:Test fixture in moto's in-memory S3, destroyed after the run; nothing to replicate.
  bucket        = "${var.name_prefix}-ml-fixture"
  force_destroy = true
}

resource "aws_s3_bucket_public_access_block" "this" {
  bucket                  = aws_s3_bucket.this.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "this" {
  bucket = aws_s3_bucket.this.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.this.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    id     = "expire-fixture"
    status = "Enabled"

    filter {
      prefix = ""
    }

    expiration {
      days = 1
    }

    noncurrent_version_expiration {
      noncurrent_days = 1
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

resource "aws_s3_bucket_notification" "this" {
  bucket      = aws_s3_bucket.this.id
  eventbridge = true
}

output "kms_key_arn" {
  description = "ARN of the fixture key."
  value       = aws_kms_key.this.arn
}

output "bucket" {
  description = "Name of the fixture bucket."
  value       = aws_s3_bucket.this.id
}

output "bucket_arn" {
  description = "ARN of the fixture bucket."
  value       = aws_s3_bucket.this.arn
}
