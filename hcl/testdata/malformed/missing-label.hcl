# want: Missing name for segment
segment {
  target = target.aws.prod
}
