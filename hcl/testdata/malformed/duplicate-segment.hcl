# want: Duplicate segment
segment "web" {
  target = target.aws.prod
  members { tags = { tier = "web2" } }
}
