# The knowledge base and bot arrive with their own issue; the app exists so their migrations
# and URLs have a home from the start.
