# want: Function calls not allowed
network "corp" { cidrs = [cidrsubnet("10.0.0.0/8", 8, 1)] }
