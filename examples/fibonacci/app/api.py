# The seed guide's Fibonacci service, unchanged but for two fixes: a missing
# n is a 400 (int(None) raises TypeError, which the guide's code turned into
# a 500), and so is n < 1 (the guide's recursion never ends there).
from flask import Flask, abort, request

app = Flask(__name__)


@app.route("/fibonacci")
def fibonacci_endpoint():
    nVal = request.args.get("n")
    try:
        n = int(nVal)
    except (TypeError, ValueError):
        abort(400, f"Value '{nVal}' is not an integer")
    if n < 1:
        abort(400, f"Value '{nVal}' is below 1")
    return str(fibonacci(n))


def fibonacci(n):
    # First Fibonacci number is 0
    if n == 1:
        return 0
    # Second Fibonacci number is 1
    elif n == 2:
        return 1
    else:
        return fibonacci(n - 1) + fibonacci(n - 2)


if __name__ == "__main__":
    app.run(debug=True, host="0.0.0.0")
