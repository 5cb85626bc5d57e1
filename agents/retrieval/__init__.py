"""The knowledge agent: answers store-policy and how-to questions from the knowledge base, with citations."""
