# want: Wrong type
target "aws" "dev" {
  region               = "us-east-1"
  vpc_id               = "vpc-2"
  exclusive_membership = "yes"
}
