# want: Unknown target
segment "api" {
  target = target.aws.prd
  members { tags = { tier = "api" } }
}
