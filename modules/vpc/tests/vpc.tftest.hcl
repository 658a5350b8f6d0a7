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
    ec2        = var.aws_endpoint
    iam        = var.aws_endpoint
    kms        = var.aws_endpoint
    logs       = var.aws_endpoint
    sts        = var.aws_endpoint
    cloudwatch = var.aws_endpoint
    s3         = var.aws_endpoint
    dynamodb   = var.aws_endpoint
  }
}

run "defaults_without_nat" {
  command = plan

  assert {
    condition     = aws_vpc.this.cidr_block == "10.20.0.0/16" && aws_vpc.this.enable_dns_support && aws_vpc.this.enable_dns_hostnames
    error_message = "The VPC must use the default CIDR with DNS support and hostnames on."
  }

  assert {
    condition     = aws_vpc.this.tags["Name"] == "creditscore-test-vpc" && aws_vpc.this.tags["Project"] == "creditscore"
    error_message = "The VPC must be named from name_prefix and carry the given tags."
  }

  assert {
    condition     = length(aws_subnet.public) == 2 && length(aws_subnet.private) == 2
    error_message = "az_count = 2 must give two public and two private subnets."
  }

  assert {
    condition     = length(distinct(concat(aws_subnet.public[*].availability_zone))) == 2
    error_message = "The public subnets must be in two different availability zones."
  }

  assert {
    condition = (
      aws_subnet.public[0].cidr_block == "10.20.0.0/20" && aws_subnet.public[1].cidr_block == "10.20.16.0/20" &&
      aws_subnet.private[0].cidr_block == "10.20.128.0/20" && aws_subnet.private[1].cidr_block == "10.20.144.0/20"
    )
    error_message = "Subnet CIDRs must be the expected /20 slices of the VPC."
  }

  assert {
    condition     = alltrue([for subnet in aws_subnet.public : subnet.map_public_ip_on_launch == false])
    error_message = "Public subnets must not hand out public IPs by default."
  }

  assert {
    condition     = length(aws_nat_gateway.this) == 0 && length(aws_eip.nat) == 0 && length(aws_route.private_nat) == 0
    error_message = "No NAT gateway, EIP or NAT route when enable_nat_gateway is false."
  }

  assert {
    condition     = output.nat_gateway_id == null
    error_message = "nat_gateway_id must be null without a NAT gateway."
  }

  assert {
    condition     = aws_route.public_internet.destination_cidr_block == "0.0.0.0/0"
    error_message = "The public route table must route to the internet gateway."
  }

  assert {
    condition     = length(aws_route_table.private) == 2 && length(aws_route_table_association.private) == 2 && length(aws_route_table_association.public) == 2
    error_message = "Each subnet must be associated with its route table."
  }

  assert {
    condition = (
      aws_vpc_endpoint.s3.vpc_endpoint_type == "Gateway" && aws_vpc_endpoint.s3.service_name == "com.amazonaws.ap-southeast-1.s3" &&
      aws_vpc_endpoint.dynamodb.vpc_endpoint_type == "Gateway" && aws_vpc_endpoint.dynamodb.service_name == "com.amazonaws.ap-southeast-1.dynamodb"
    )
    error_message = "S3 and DynamoDB must have gateway endpoints in the region."
  }

  assert {
    condition     = length(aws_default_security_group.this.ingress) == 0 && length(aws_default_security_group.this.egress) == 0
    error_message = "The default security group must have no rules."
  }

  assert {
    condition     = aws_flow_log.this.traffic_type == "ALL" && aws_flow_log.this.log_destination_type == "cloud-watch-logs"
    error_message = "Flow logs must record all traffic to CloudWatch Logs."
  }

  assert {
    condition     = aws_cloudwatch_log_group.flow_logs.name == "/aws/vpc/creditscore-test/flow-logs" && aws_cloudwatch_log_group.flow_logs.retention_in_days == 365
    error_message = "The flow-log group must be named from name_prefix and keep events 365 days by default."
  }

  assert {
    condition     = length(aws_kms_key.flow_logs) == 1 && aws_kms_key.flow_logs[0].enable_key_rotation
    error_message = "Without log_kms_key_arn the module must create its own rotating KMS key."
  }

  assert {
    condition     = aws_iam_role.flow_logs.name == "creditscore-test-vpc-flow-logs"
    error_message = "The flow-log role must be named from name_prefix."
  }

  assert {
    condition     = strcontains(aws_iam_role.flow_logs.assume_role_policy, "vpc-flow-logs.amazonaws.com")
    error_message = "Only VPC Flow Logs may assume the flow-log role."
  }
}

run "nat_and_three_azs" {
  command = plan

  variables {
    az_count                = 3
    enable_nat_gateway      = true
    cidr_block              = "10.30.0.0/20"
    flow_log_retention_days = 400
  }

  assert {
    condition     = length(aws_subnet.public) == 3 && length(aws_subnet.private) == 3 && length(aws_route_table.private) == 3
    error_message = "az_count = 3 must give three subnets of each kind and three private route tables."
  }

  assert {
    condition     = aws_subnet.private[2].cidr_block == "10.30.10.0/24"
    error_message = "Subnets must be /16ths of a smaller VPC CIDR too."
  }

  assert {
    condition     = length(aws_nat_gateway.this) == 1 && aws_eip.nat[0].domain == "vpc"
    error_message = "enable_nat_gateway must create exactly one NAT gateway with a VPC Elastic IP."
  }

  assert {
    condition     = length(aws_route.private_nat) == 3 && alltrue([for route in aws_route.private_nat : route.destination_cidr_block == "0.0.0.0/0"])
    error_message = "Every private route table must send its default route through the NAT gateway."
  }

  assert {
    condition     = aws_cloudwatch_log_group.flow_logs.retention_in_days == 400
    error_message = "flow_log_retention_days must set the log group's retention."
  }
}

run "given_log_kms_key" {
  command = plan

  variables {
    log_kms_key_arn = "arn:aws:kms:ap-southeast-1:123456789012:key/00000000-0000-0000-0000-000000000000"
  }

  assert {
    condition     = length(aws_kms_key.flow_logs) == 0 && length(aws_kms_alias.flow_logs) == 0
    error_message = "With log_kms_key_arn the module must not create its own key."
  }

  assert {
    condition     = aws_cloudwatch_log_group.flow_logs.kms_key_id == "arn:aws:kms:ap-southeast-1:123456789012:key/00000000-0000-0000-0000-000000000000"
    error_message = "The flow-log group must be encrypted with the given key."
  }
}

run "pinned_zones" {
  command = plan

  variables {
    azs      = ["ap-southeast-1c", "ap-southeast-1a"]
    az_count = 3 # ignored: azs decides
  }

  assert {
    condition     = output.azs == tolist(["ap-southeast-1c", "ap-southeast-1a"]) && aws_subnet.public[*].availability_zone == ["ap-southeast-1c", "ap-southeast-1a"] && aws_subnet.private[*].availability_zone == ["ap-southeast-1c", "ap-southeast-1a"]
    error_message = "Given azs are used exactly, in their order, whatever az_count says."
  }

  assert {
    condition     = one([for f in data.aws_availability_zones.available.filter : f.values if f.name == "zone-name"]) == toset(["ap-southeast-1c", "ap-southeast-1a"])
    error_message = "The zone lookup is pinned to the given names (checkov CKV_AWS_394): a zone AWS adds can never enter it."
  }
}

run "default_zones_are_pinned_to_a_to_h" {
  command = plan

  assert {
    condition     = one([for f in data.aws_availability_zones.available.filter : f.values if f.name == "zone-name"]) == toset([for letter in ["a", "b", "c", "d", "e", "f", "g", "h"] : "ap-southeast-1${letter}"])
    error_message = "Without azs the lookup is still pinned, to the region's zones a to h."
  }

  assert {
    condition     = output.azs == tolist(["ap-southeast-1a", "ap-southeast-1b"])
    error_message = "Without azs the first az_count available zones are used, in name order."
  }
}

run "refuses_an_unavailable_zone" {
  command = plan

  variables {
    azs = ["ap-southeast-1a", "ap-southeast-1z"]
  }

  expect_failures = [aws_subnet.public]
}

run "rejects_bad_inputs" {
  command = plan

  variables {
    name_prefix             = "Creditscore_Dev"
    cidr_block              = "10.20.1.0/16"
    az_count                = 1
    log_kms_key_arn         = "not-an-arn"
    flow_log_retention_days = 42
    azs                     = ["ap-southeast-1a", "ap-southeast-1a"]
  }

  expect_failures = [
    var.name_prefix,
    var.cidr_block,
    var.az_count,
    var.log_kms_key_arn,
    var.flow_log_retention_days,
    var.azs,
  ]
}

run "apply_with_nat" {
  command = apply

  variables {
    name_prefix        = "creditscore-vpcapply"
    enable_nat_gateway = true
  }

  assert {
    condition     = startswith(output.vpc_id, "vpc-") && length(output.private_subnet_ids) == 2 && length(output.public_subnet_ids) == 2
    error_message = "Apply must create the VPC and its subnets."
  }

  assert {
    condition     = output.nat_gateway_id != null && startswith(output.nat_gateway_id, "nat-")
    error_message = "Apply must create the NAT gateway."
  }

  assert {
    condition     = startswith(output.s3_endpoint_id, "vpce-") && startswith(output.dynamodb_endpoint_id, "vpce-")
    error_message = "Apply must create both gateway endpoints."
  }

  assert {
    condition     = startswith(output.s3_prefix_list_id, "pl-") && startswith(output.dynamodb_prefix_list_id, "pl-")
    error_message = "Apply must expose the endpoints' managed prefix lists."
  }

  assert {
    condition     = length(aws_vpc_endpoint.s3.route_table_ids) == 3 && length(aws_vpc_endpoint.dynamodb.route_table_ids) == 3
    error_message = "The gateway endpoints must be attached to the public and both private route tables."
  }

  assert {
    condition     = output.flow_log_group_name == "/aws/vpc/creditscore-vpcapply/flow-logs" && startswith(output.flow_log_id, "fl-")
    error_message = "Apply must create the flow log and its group."
  }
}
