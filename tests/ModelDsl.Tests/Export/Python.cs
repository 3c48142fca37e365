using System;
using System.Diagnostics;
using System.IO;
using System.Runtime.InteropServices;
using Xunit.Sdk;

namespace ModelDsl.Tests.Export;

/// <summary>
/// Runs a Python script with PyTorch: Debian's <c>/usr/bin/python3</c> on Linux (its <c>python3-torch</c>; the pyenv
/// <c>python3</c> on the PATH does not see Debian's packages), <c>python</c> elsewhere. A missing interpreter or
/// PyTorch fails the test with the command that installs it; the test command runs that command itself on Debian
/// (tests/ensure-python-torch.sh), so a fresh machine needs nothing by hand.
/// </summary>
internal static class Python
{
    private static string Interpreter =>
        RuntimeInformation.IsOSPlatform(OSPlatform.Linux) && File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python";

    /// <summary>Runs <c>python -c script arguments...</c>; returns its output, or fails the test with its error.</summary>
    public static string Run(string script, params string[] arguments) => Execute(["-c", script, .. arguments]);

    /// <summary>Runs <c>python arguments...</c> (a file, <c>-m module</c>, ...).</summary>
    public static string Execute(string[] arguments, string? workingDirectory = null)
    {
        var start = new ProcessStartInfo(Interpreter) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (workingDirectory is not null)
            start.WorkingDirectory = workingDirectory;
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);
        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new XunitException($"No Python interpreter '{Interpreter}' ({e.Message}). On Debian: apt-get install python3-torch.");
        }
        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(TimeSpan.FromMinutes(8)))
            {
                process.Kill(entireProcessTree: true);
                throw new XunitException("The Python script did not finish in 8 minutes.");
            }
            var error = stderr.Result;
            if (process.ExitCode != 0 && error.Contains("No module named 'torch'", StringComparison.Ordinal))
                throw new XunitException($"PyTorch is not installed for {Interpreter}. On Debian: apt-get install python3-torch (tests/ensure-python-torch.sh).");
            if (process.ExitCode != 0)
                throw new XunitException($"The Python script failed (exit {process.ExitCode}):\n{error}\n{stdout.Result}");
            return stdout.Result;
        }
    }
}
