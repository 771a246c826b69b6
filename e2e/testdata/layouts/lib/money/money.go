// Package money formats amounts of cents; shared by the services.
package money

import "fmt"

// Format renders cents as a decimal amount.
func Format(cents int) string { return fmt.Sprintf("%d.%02d", cents/100, cents%100) }
