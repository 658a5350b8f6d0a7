output "vpc_id" {
  description = "ID of the VPC."
  value       = aws_vpc.this.id
}

output "vpc_cidr_block" {
  description = "IPv4 CIDR block of the VPC."
  value       = aws_vpc.this.cidr_block
}

output "azs" {
  description = "Availability zones the subnets are in, in subnet order."
  value       = local.azs
}

output "public_subnet_ids" {
  description = "IDs of the public subnets, one per availability zone (in the order of `azs`)."
  value       = aws_subnet.public[*].id
}

output "private_subnet_ids" {
  description = "IDs of the private subnets, one per availability zone (in the order of `azs`)."
  value       = aws_subnet.private[*].id
}

output "public_route_table_ids" {
  description = "IDs of the public route tables (one, shared by every public subnet)."
  value       = [aws_route_table.public.id]
}

output "private_route_table_ids" {
  description = "IDs of the private route tables, one per availability zone."
  value       = aws_route_table.private[*].id
}

output "s3_endpoint_id" {
  description = "ID of the S3 gateway VPC endpoint."
  value       = aws_vpc_endpoint.s3.id
}

output "dynamodb_endpoint_id" {
  description = "ID of the DynamoDB gateway VPC endpoint."
  value       = aws_vpc_endpoint.dynamodb.id
}

output "s3_prefix_list_id" {
  description = "ID of the S3 managed prefix list, for security-group egress rules to S3 through the endpoint."
  value       = aws_vpc_endpoint.s3.prefix_list_id
}

output "dynamodb_prefix_list_id" {
  description = "ID of the DynamoDB managed prefix list, for security-group egress rules to DynamoDB through the endpoint."
  value       = aws_vpc_endpoint.dynamodb.prefix_list_id
}

output "nat_gateway_id" {
  description = "ID of the NAT gateway; null when enable_nat_gateway is false."
  value       = try(aws_nat_gateway.this[0].id, null)
}

output "nat_public_ip" {
  description = "Public IP address of the NAT gateway; null when enable_nat_gateway is false."
  value       = try(aws_eip.nat[0].public_ip, null)
}

output "flow_log_group_name" {
  description = "Name of the CloudWatch log group receiving the VPC flow logs."
  value       = aws_cloudwatch_log_group.flow_logs.name
}

output "flow_log_group_arn" {
  description = "ARN of the CloudWatch log group receiving the VPC flow logs."
  value       = aws_cloudwatch_log_group.flow_logs.arn
}

output "flow_log_id" {
  description = "ID of the VPC flow log."
  value       = aws_flow_log.this.id
}

output "flow_log_kms_key_arn" {
  description = "ARN of the KMS key encrypting the flow-log group (the given log_kms_key_arn, or the module's own key)."
  value       = local.log_kms_key_arn
}
