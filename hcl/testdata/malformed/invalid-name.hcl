# want: Invalid name
network "corp net" { cidrs = ["10.0.0.0/8"] }
