terraform {
  required_version = ">= 1.6"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }

  # Remote state: uncomment, create the bucket (versioned, encrypted) once, then `terraform init -migrate-state`.
  # S3's own lock file (use_lockfile) replaces the DynamoDB lock table of older setups.
  # backend "s3" {
  #   bucket       = "creditscore-terraform-state"
  #   key          = "envs/prod/terraform.tfstate"
  #   region       = "ap-southeast-1"
  #   encrypt      = true
  #   use_lockfile = true
  # }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = local.tags
  }
}
