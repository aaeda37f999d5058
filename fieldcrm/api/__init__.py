"""What the JSON API needs besides its views (fieldcrm/routes/api.py): reading requests,
representing rows, paging, and the OpenAPI description of it all."""
