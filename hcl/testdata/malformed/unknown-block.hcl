# want: Unsupported block type
segmnt "x" {}
