# Sourced by chaos.sh and scale-test.sh: one acknowledged cart write of their writers.
#
#   cart_write <base url> <token> <idempotency key> <n> <timeout s> <product ids...>
#
# Prints the HTTP status (000: no answer; curl's exit code is the function's). Write n
# goes to product n mod count; every 8th round over the products removes the line
# instead of adding to it, so no line reaches the store's per-line limit
# (MAX_LINE_QUANTITY, 10) however long the writer runs. Both kinds append exactly one
# event when they answer 2xx (a removal of an absent line is a 404), so "acknowledged
# = stored" still holds.
cart_write() {
  local base=$1 token=$2 key=$3 n=$4 secs=$5
  shift 5
  local -a ids=("$@")
  local count=${#ids[@]}
  local product=${ids[$((n % count))]}
  if [ $(((n / count) % 8)) -eq 7 ]; then
    curl -s -o /dev/null -w '%{http_code}' -m "$secs" -X DELETE "$base/api/v1/cart/items/$product/" \
      -H "Authorization: Bearer $token" -H "Idempotency-Key: $key"
  else
    curl -s -o /dev/null -w '%{http_code}' -m "$secs" -X POST "$base/api/v1/cart/" \
      -H "Authorization: Bearer $token" -H "Idempotency-Key: $key" -H 'Content-Type: application/json' \
      -d "{\"product_id\":\"$product\",\"quantity\":1}"
  fi
}
