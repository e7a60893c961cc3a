"""The GraphQL admin API (``/admin/gql``) as Backend.AI's client queries it."""
