# want: Duplicate members block
segment "api" {
  target = target.aws.prod
  members { tags = { tier = "api" } }
  members { tags = { tier = "api2" } }
}
