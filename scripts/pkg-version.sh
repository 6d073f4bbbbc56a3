#!/bin/sh
# pkg-version.sh: the package version of this checkout for `make packages`.
# Debian and RPM versions must start with a digit, and "-" separates the
# package revision: a tag v1.2.3 gives 1.2.3, a later commit
# 1.2.3~5~gabc1234, a checkout without a version tag 0.0.0~gitabc1234.
if v=$(git describe --tags --match 'v[0-9]*' --dirty 2>/dev/null); then
	echo "${v#v}" | tr - '~'
else
	v=$(git describe --always --dirty 2>/dev/null || echo unknown)
	echo "0.0.0~git$v" | tr - '~'
fi
