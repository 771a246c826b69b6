// Command pricing prices things on :8080, with the shared money library.
package main

import (
	"fmt"
	"log"
	"net/http"

	"example.com/money"
)

func price(items int) string { return money.Format(items * 250) }

func main() {
	http.HandleFunc("/health/ready", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, price(2)) })
	log.Fatal(http.ListenAndServe(":8080", nil))
}
