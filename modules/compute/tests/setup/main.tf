# Test fixture: looks up what moto's server (or an account) already has, so that the apply runs get real
# IDs without this fixture creating anything.
terraform {
  required_version = ">= 1.6"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }
}

data "aws_vpc" "default" {
  default = true
}

data "aws_subnets" "default" {
  filter {
    name   = "vpc-id"
    values = [data.aws_vpc.default.id]
  }
}

data "aws_ami" "al2023" {
  most_recent = true
  owners      = ["amazon"]

  filter {
    name   = "name"
    values = ["al2023-ami-2023*-x86_64"]
  }
}

output "vpc_id" {
  description = "ID of the default VPC."
  value       = data.aws_vpc.default.id
}

output "subnet_ids" {
  description = "IDs of the default VPC's subnets, sorted."
  value       = sort(data.aws_subnets.default.ids)
}

output "ami_id" {
  description = "The most recent Amazon Linux 2023 x86_64 AMI."
  value       = data.aws_ami.al2023.id
}

# moto's ELBv2 checks that a listener's certificate exists in ACM.
resource "aws_acm_certificate" "test" {
  domain_name       = "api.creditscore.test"
  validation_method = "DNS"

  options {
    certificate_transparency_logging_preference = "ENABLED"
  }

  lifecycle {
    create_before_destroy = true
  }
}

output "certificate_arn" {
  description = "ARN of a (pending) ACM certificate for the HTTPS listener."
  value       = aws_acm_certificate.test.arn
}
