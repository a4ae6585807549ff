# want: Missing members block
segment "api" {
  target = target.aws.prod
}
