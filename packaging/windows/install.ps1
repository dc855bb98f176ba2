# Install Sigma Studio for the current user on Windows (no administrator rights needed).
#   powershell -ExecutionPolicy Bypass -File install.ps1 [--torch auto|cpu|cuda]
# Run it from the unpacked installer folder (wheel, installer.py, platform_integration.py, locks\)
# or from a checkout after building the wheel. Puts the app in %LOCALAPPDATA%\sigma-studio, a
# Start-menu shortcut "Sigma Studio", and an "Open with Sigma Studio" entry for .json presets.
$ErrorActionPreference = "Stop"
$here = Split-Path -Parent $MyInvocation.MyCommand.Path
$installer = Join-Path $here "installer.py"
if (-not (Test-Path $installer)) { $installer = Join-Path (Split-Path -Parent $here) "installer.py" }
$python = $null
foreach ($candidate in @(@("py", "-3.13"), @("py", "-3.12"), @("py", "-3.11"), @("python"))) {
    try {
        & $candidate[0] $candidate[1..9] -c "import sys; sys.exit(sys.version_info < (3, 11))" 2>$null
        if ($LASTEXITCODE -eq 0) { $python = $candidate; break }
    } catch { }
}
if (-not $python) {
    Write-Error "Sigma Studio needs Python 3.11 or newer: install it from python.org (tick 'Add to PATH') and run this again."
    exit 1
}
& $python[0] $python[1..9] $installer install @args
exit $LASTEXITCODE
