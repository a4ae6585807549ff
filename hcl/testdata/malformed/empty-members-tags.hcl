# want: Empty members
segment "api" {
  target = target.aws.prod
  members { tags = {} }
}
