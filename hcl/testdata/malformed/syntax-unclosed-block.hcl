# want: Unclosed configuration block
segment "api" {
  target = target.aws.prod

