// Validates each GLB named on the command line with the Khronos glTF validator;
// prints one JSON array of {uri, issues} (issues as the validator reports them).
const fs = require("fs");
const validator = require("gltf-validator");

async function report(path) {
  const result = await validator.validateBytes(new Uint8Array(fs.readFileSync(path)), { uri: path, format: "glb" });
  return { uri: path, issues: result.issues };
}

Promise.all(process.argv.slice(2).map(report)).then(
  (reports) => console.log(JSON.stringify(reports)),
  (error) => { console.error(String(error)); process.exit(1); },
);
