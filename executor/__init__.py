"""The Mistral client layer and the Scout / Mechanic / Inspector / Iterate loop."""
