// A jest transform: an imported .svg file is its text, as in the webpack build.
module.exports = {
  process(source) {
    return { code: `module.exports = ${JSON.stringify(source)};` };
  }
};
