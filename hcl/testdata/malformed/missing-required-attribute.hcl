# want: Missing required argument
target "aws" "dev" {
  vpc_id = "vpc-2"
}
