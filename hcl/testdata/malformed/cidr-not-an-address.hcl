# want: Invalid CIDR
network "corp" { cidrs = ["corp.example"] }
