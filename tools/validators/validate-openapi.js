// Validates an OpenAPI document with @apidevtools/swagger-parser: the schema of the document
// itself, then every $ref dereferenced. Usage: node validate-openapi.js openapi.json
"use strict";
const SwaggerParser = require("@apidevtools/swagger-parser");

const path = process.argv[2];
SwaggerParser.validate(path)
  .then((api) => {
    console.log(`valid: ${api.info.title} ${api.info.version}, ${Object.keys(api.paths).length} paths`);
  })
  .catch((err) => {
    console.error(err.message);
    process.exit(1);
  });
