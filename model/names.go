package model

import (
	"strings"
	"unicode/utf8"
)

// ClosestName returns the candidate nearest to given when it is near enough to be a
// typo, for "did you mean" messages: one edit, or up to three edits but at most one
// per three characters of the given name (two edits turn a three-letter word into
// another word). Case is ignored; ties go to the candidate that sorts first.
func ClosestName(given string, candidates []string) (string, bool) {
	best, bestDist := "", -1
	lower := strings.ToLower(given)
	for _, c := range candidates {
		d := editDistance(lower, strings.ToLower(c))
		n := utf8.RuneCountInString(given)
		if !(d == 1 && n >= 2) && (d > 3 || d*3 > n) {
			continue
		}
		if bestDist < 0 || d < bestDist || (d == bestDist && c < best) {
			best, bestDist = c, d
		}
	}
	return best, bestDist >= 0
}

// editDistance is the optimal string alignment distance between a and b, in runes:
// Levenshtein plus the swap of two neighbours as one edit, since "wbe" for "web" is
// a common typo and plain Levenshtein ties it with "db".
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	// Row i of the table is the distance between ra[:i] and every prefix of rb; the
	// swap needs the row before the previous one too.
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
