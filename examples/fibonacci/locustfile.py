# The seed guide's load test in today's Locust API (HttpUser replaces
# HttpLocust + TaskSet). lpa runs it with real Locust when the image has
# Locust (the lpa-locust image); the plain lpa image translates it and its
# native users send the same request with the same waits.
from locust import HttpUser, between, task


class WebsiteUser(HttpUser):
    wait_time = between(5, 9)

    @task(1)
    def profile(self):
        self.client.get("/fibonacci?n=10")
